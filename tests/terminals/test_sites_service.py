"""Rules of the site record: validation, states and who moves them, enrolment codes (one
time, expiry, reissue), devices, administrators, photos, and assigning content."""

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.db import utcnow
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.people.models import Role, User
from core.storage import get_store
from courseware.models import LessonStatus, Visibility
from terminals.sites import photos
from terminals.sites.assignments import assign_content, assignments_reaching, unassign
from terminals.sites.errors import EnrolmentRefused
from terminals.sites.fields import check_tier, check_windows
from terminals.sites.models import Site, SiteDevice, SiteStatus
from terminals.sites.presence import Presence
from terminals.sites.service import (
    SiteDetails,
    SiteFilter,
    SiteSort,
    Transition,
    allowed_transitions,
    change_status,
    consume_enrolment_code,
    hash_code,
    issue_enrolment_code,
    list_sites,
    register_site,
    revoke_devices,
    update_site,
)
from terminals.sites.staff import create_site_admin, grant_site_admin, remove_site_admin
from tests.factories import Tree, make_course, make_lesson, make_user
from tests.terminals.sites_data import make_site

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64


@pytest.fixture
def people(session: Session, tree: Tree) -> dict[str, User]:
    return {
        "town": make_user(session, "town", Role.org_admin, tree.town),
        "branch": make_user(session, "branchadm", Role.org_admin, tree.branch),
        "far": make_user(session, "far", Role.org_admin, tree.other),
        "root": make_user(session, "root", Role.platform_admin, tree.district),
    }


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_register_checks_every_field(session: Session, tree: Tree, people: dict[str, User]) -> None:
    town = people["town"]

    def register(**changes: object) -> Site:
        fields: dict[str, object] = {"code": "500101001001", "tier": "basic"}
        detail: dict[str, object] = {"name": "站点"}
        for key, value in changes.items():
            (fields if key in fields else detail)[key] = value
        return register_site(
            session=session,
            actor=town,
            org_id=tree.branch.id,
            code=str(fields["code"]),
            tier=str(fields["tier"]),
            details=SiteDetails(**detail),  # type: ignore[arg-type]
        )

    cases = {
        "code": ("50010100100", "12 digits"),
        "tier": ("gold", "Unknown tier"),
        "name": ("  ", "needs a name"),
        "latitude": (91.0, "both latitude and longitude"),
    }
    for key, (value, message) in cases.items():
        with pytest.raises(InvalidInput, match=message):
            register(**{key: value})
    with pytest.raises(InvalidInput, match="Latitude"):
        register(latitude=91.0, longitude=10.0)
    with pytest.raises(InvalidInput, match="Longitude"):
        register(latitude=29.5, longitude=-181.0)
    with pytest.raises(InvalidInput, match="22:00-06:00"):
        register(download_windows=("25:00-06:00",))
    with pytest.raises(InvalidInput, match="count"):
        register(equipment=({"item": "电视", "count": 0},))
    with pytest.raises(InvalidInput, match="phone"):
        register(contacts=({"name": "张三", "phone": "call me"},))

    site = register(
        tier="示范",
        latitude=29.56301234,
        longitude=106.55,
        download_windows=(" 22:00-06:00", "22:00-06:00", "12:00-13:30"),
        equipment=({"item": "电视机", "model": "TCL", "count": "2"},),
        contacts=({"name": "张三", "phone": "138 0013 8000", "role": "书记"},),
    )
    session.commit()
    assert (site.tier, site.status, site.latitude) == (
        "demonstration",
        SiteStatus.registered,
        29.563012,
    )
    assert site.download_windows == ["22:00-06:00", "12:00-13:30"]
    assert site.equipment == [{"item": "电视机", "model": "TCL", "count": 2}]
    with pytest.raises(InvalidInput, match="exists already"):
        register(name="另一个")
    session.rollback()
    assert _actions(session) == ["site_registered"]


def test_tiers_by_key_or_label_and_windows() -> None:
    assert [check_tier(t) for t in ("premium", "精品", "Basic tier", "基础站点")] == [
        "premium",
        "premium",
        "basic",
        "basic",
    ]
    assert check_windows(["22:00-06:00", "", "08:00 - 09:00"]) == ["22:00-06:00", "08:00-09:00"]
    for bad in ("22:00-22:00", "7:00-8:00", "22:60-23:00", "now"):
        with pytest.raises(InvalidInput):
            check_windows([bad])


def test_registering_is_refused_outside_the_subtree(
    session: Session, tree: Tree, people: dict[str, User]
) -> None:
    with pytest.raises(PermissionDenied):
        make_site(session, people["far"], tree.branch.id)
    with pytest.raises(PermissionDenied):
        make_site(session, people["branch"], tree.sibling.id)


def test_states_and_who_moves_them(session: Session, tree: Tree, people: dict[str, User]) -> None:
    site, _ = make_site(session, people["branch"], tree.branch.id)
    branch, town = people["branch"], people["town"]
    # The branch's own admin registers but does not approve; the town above does.
    assert allowed_transitions(session, branch, site) == [Transition.suspend]
    with pytest.raises(PermissionDenied, match="above"):
        change_status(session=session, actor=branch, site_id=site.id, move=Transition.approve)
    with pytest.raises(InvalidInput, match="cannot"):
        change_status(session=session, actor=town, site_id=site.id, move=Transition.activate)
    with pytest.raises(NotFound):
        change_status(
            session=session, actor=people["far"], site_id=site.id, move=Transition.suspend
        )
    steps = [
        (town, Transition.approve, SiteStatus.approved),
        (branch, Transition.activate, SiteStatus.active),
        (branch, Transition.suspend, SiteStatus.suspended),
        (town, Transition.resume, SiteStatus.approved),  # no device enrolled: back to approved
    ]
    for actor, move, expected in steps:
        assert (
            change_status(session=session, actor=actor, site_id=site.id, move=move).status
            is expected
        )
    session.commit()
    assert _actions(session)[-4:] == [
        "site_approved",
        "site_activated",
        "site_suspended",
        "site_resumed",
    ]


def test_enrolment_code_works_once_and_is_stored_hashed(
    session: Session, tree: Tree, people: dict[str, User]
) -> None:
    site, code = make_site(session, people["town"], tree.branch.id)
    assert len(code) == 19 and code.count("-") == 3
    assert site.enrolment_code_hash == hash_code(code) and code not in site.enrolment_code_hash
    # the hash of the code as printed, so a client that hashes what it was given agrees
    assert site.enrolment_code_hash == hashlib.sha256(code.encode()).hexdigest()
    change_status(session=session, actor=people["town"], site_id=site.id, move=Transition.approve)
    # typed in lower case with spaces for dashes
    found = consume_enrolment_code(session=session, code=code.lower().replace("-", " "))
    session.commit()
    assert found.id == site.id and found.status is SiteStatus.active
    assert found.enrolment_code_hash is None
    with pytest.raises(EnrolmentRefused, match="used already"):
        consume_enrolment_code(session=session, code=code)
    with pytest.raises(EnrolmentRefused):
        consume_enrolment_code(session=session, code="")


def test_enrolment_code_expires_is_reissued_and_refused_when_suspended(
    session: Session, tree: Tree, people: dict[str, User]
) -> None:
    town = people["town"]
    site, first = make_site(session, town, tree.branch.id)
    _, second = issue_enrolment_code(session=session, actor=town, site_id=site.id)
    session.commit()
    assert first != second
    with pytest.raises(EnrolmentRefused, match="used already"):
        consume_enrolment_code(session=session, code=first)  # the reissue invalidated it
    site.enrolment_code_expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    with pytest.raises(EnrolmentRefused, match="expired"):
        consume_enrolment_code(session=session, code=second)
    _, third = issue_enrolment_code(session=session, actor=town, site_id=site.id)
    change_status(session=session, actor=town, site_id=site.id, move=Transition.suspend)
    session.commit()
    with pytest.raises(EnrolmentRefused, match="suspended"):
        consume_enrolment_code(session=session, code=third)
    with pytest.raises(InvalidInput, match="suspended"):
        issue_enrolment_code(session=session, actor=town, site_id=site.id)
    # a registered (not yet approved) site may enrol; it stays registered
    other, code = make_site(session, town, tree.sibling.id, code="500101001002")
    assert consume_enrolment_code(session=session, code=code).status is SiteStatus.registered


def test_revoking_devices_and_resuming_with_one(
    session: Session, tree: Tree, people: dict[str, User]
) -> None:
    town = people["town"]
    site, _ = make_site(session, town, tree.branch.id)
    now = utcnow()
    devices = [
        SiteDevice(site_id=site.id, token_hash=f"{n:064x}", last_seen_at=now) for n in (1, 2)
    ]
    session.add_all(devices)
    session.commit()
    change_status(session=session, actor=town, site_id=site.id, move=Transition.suspend)
    assert (
        change_status(session=session, actor=town, site_id=site.id, move=Transition.resume).status
        is SiteStatus.active
    )
    assert (
        revoke_devices(session=session, actor=town, site_id=site.id, device_id=devices[0].id) == 1
    )
    assert (
        revoke_devices(session=session, actor=town, site_id=site.id, device_id=devices[0].id) == 0
    )
    assert revoke_devices(session=session, actor=town, site_id=site.id) == 1
    session.commit()
    assert all(d.revoked_at is not None and d.revoked_by == town.id for d in devices)
    with pytest.raises(NotFound):
        revoke_devices(session=session, actor=people["far"], site_id=site.id)


def test_list_filters_sorts_and_tells_presence(
    session: Session, tree: Tree, people: dict[str, User]
) -> None:
    town = people["town"]
    online, _ = make_site(session, town, tree.branch.id, "500101001001", "premium", "甲站")
    offline, _ = make_site(session, town, tree.sibling.id, "500101001002", "basic", "乙站")
    never, _ = make_site(session, town, tree.sibling.id, "500101001003", "basic", "丙站")
    now = utcnow()
    session.add_all(
        [
            SiteDevice(site_id=online.id, token_hash="a" * 64, last_seen_at=now),
            SiteDevice(
                site_id=offline.id, token_hash="b" * 64, last_seen_at=now - timedelta(hours=2)
            ),
            # a revoked device's contact does not count
            SiteDevice(site_id=never.id, token_hash="c" * 64, last_seen_at=now, revoked_at=now),
        ]
    )
    session.commit()

    def names(**where: object) -> list[str]:
        sort = where.pop("sort", SiteSort.name)
        descending = bool(where.pop("descending", False))
        found, _ = list_sites(
            session=session,
            actor=town,
            where=SiteFilter(**where),  # type: ignore[arg-type]
            sort=sort,  # type: ignore[arg-type]
            descending=descending,
        )
        return [site.name for site in found.items]

    assert names(presence=Presence.online) == ["甲站"]
    assert names(presence=Presence.offline) == ["乙站"]
    assert names(presence=Presence.never) == ["丙站"]
    assert names(tier="basic", query="00100") == sorted(["乙站", "丙站"])
    assert names(org_id=tree.branch.id) == ["甲站"]
    assert names(sort=SiteSort.last_seen, descending=True) == ["甲站", "乙站", "丙站"]
    assert names(sort=SiteSort.code, descending=True) == ["丙站", "乙站", "甲站"]
    found, _ = list_sites(session=session, actor=people["far"])
    assert found.total == 0


def test_update_moves_within_reach_and_audits_fields(
    session: Session, tree: Tree, people: dict[str, User]
) -> None:
    town = people["town"]
    site, _ = make_site(session, town, tree.branch.id)
    update_site(
        session=session,
        actor=town,
        site_id=site.id,
        code=site.code,
        tier="premium",
        org_id=tree.sibling.id,
        details=SiteDetails(name="新名字", address="一号"),
    )
    session.commit()
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None and entry.action == "site_updated"
    assert entry.detail["fields"] == ["address", "name", "org_id", "tier"]
    with pytest.raises(PermissionDenied):
        update_site(
            session=session,
            actor=town,
            site_id=site.id,
            code=site.code,
            tier="basic",
            org_id=tree.other.id,
            details=SiteDetails(name="x"),
        )


def test_site_administrators(session: Session, tree: Tree, people: dict[str, User]) -> None:
    town = people["town"]
    site, _ = make_site(session, town, tree.branch.id)
    member = make_user(session, "villager", Role.member, tree.branch)
    grant_site_admin(session=session, actor=town, site_id=site.id, login="villager")
    grant_site_admin(session=session, actor=town, site_id=site.id, login="villager")  # once
    with pytest.raises(NotFound):
        grant_site_admin(session=session, actor=town, site_id=site.id, login="far")
    user, password = create_site_admin(
        session=session, actor=town, site_id=site.id, login="zhanzhang", display_name="站长"
    )
    session.commit()
    assert user.must_change_password and len(password) >= 12
    assert [g.org_id for g in user.grants] == [tree.branch.id]
    assert sorted(a.user.login for a in site.administrators) == ["villager", "zhanzhang"]
    remove_site_admin(session=session, actor=town, site_id=site.id, user_id=member.id)
    session.commit()
    assert [a.user.login for a in site.administrators] == ["zhanzhang"]
    # a site administrator sees the site but may not manage it
    with pytest.raises(PermissionDenied):
        change_status(session=session, actor=user, site_id=site.id, move=Transition.suspend)
    with pytest.raises(NotFound):
        remove_site_admin(session=session, actor=town, site_id=site.id, user_id=member.id)


def test_photos_are_checked_stored_and_removed(
    session: Session, tree: Tree, people: dict[str, User]
) -> None:
    town, store = people["town"], get_store()
    site, _ = make_site(session, town, tree.branch.id)
    for data, message in (
        (b"GIF89a", "JPEG or PNG"),
        (b"", "Choose"),
        (PNG + b"\0" * photos.MAX_PHOTO_BYTES, "at most"),
    ):
        with pytest.raises(InvalidInput, match=message):
            photos.add_photo(session=session, store=store, actor=town, site_id=site.id, data=data)
    name = photos.add_photo(session=session, store=store, actor=town, site_id=site.id, data=PNG)
    jpeg = photos.add_photo(session=session, store=store, actor=town, site_id=site.id, data=JPEG)
    session.commit()
    assert name.endswith(".png") and jpeg.endswith(".jpg")
    assert site.photos == [f"sites/{site.id}/photos/{name}", f"sites/{site.id}/photos/{jpeg}"]
    assert photos.read_photo(store=store, site=site, name=name) == (PNG, "image/png")
    with pytest.raises(NotFound):
        photos.read_photo(store=store, site=site, name="../x.png")
    photos.remove_photo(session=session, store=store, actor=town, site_id=site.id, name=name)
    session.commit()
    assert not store.exists(f"sites/{site.id}/photos/{name}")
    assert photos.photo_names(site) == [jpeg]


def test_assigning_checks_target_content_and_duplicates(
    session: Session, tree: Tree, people: dict[str, User]
) -> None:
    town, far = people["town"], people["far"]
    publisher = make_user(session, "pub", Role.publisher, tree.district)
    course = make_course(session, publisher, tree.district)
    lesson = make_lesson(session, course)
    hidden = make_course(
        session,
        make_user(session, "farpub", Role.publisher, tree.other),
        tree.other,
        "别处",
        Visibility.org,
    )
    draft = make_lesson(session, course, "未完成", status=LessonStatus.processing)
    site, _ = make_site(session, town, tree.branch.id)

    first = assign_content(session=session, actor=town, site_id=site.id, course_id=course.id)
    again = assign_content(session=session, actor=town, site_id=site.id, course_id=course.id)
    assert first.id == again.id  # not stored twice
    by_tier = assign_content(
        session=session, actor=town, org_id=tree.town.id, tier="基础", lesson_id=lesson.id
    )
    assert by_tier.tier == "basic"
    session.commit()
    with pytest.raises(NotFound):
        assign_content(session=session, actor=town, site_id=site.id, course_id=hidden.id)
    with pytest.raises(NotFound):  # a lesson still processing is seen only by its editors
        assign_content(session=session, actor=town, site_id=site.id, lesson_id=draft.id)
    with pytest.raises(InvalidInput):
        assign_content(session=session, actor=town, site_id=site.id)
    with pytest.raises(NotFound):
        assign_content(session=session, actor=far, site_id=site.id, course_id=course.id)
    with pytest.raises(PermissionDenied):
        assign_content(session=session, actor=far, org_id=tree.town.id, course_id=course.id)
    assert [a.id for a in assignments_reaching(session=session, site=site)] == [
        first.id,
        by_tier.id,
    ]
    with pytest.raises(NotFound):
        unassign(session=session, actor=far, assignment_id=first.id)
    unassign(session=session, actor=town, assignment_id=first.id)
    session.commit()
    assert [a.id for a in assignments_reaching(session=session, site=site)] == [by_tier.id]
    with pytest.raises(NotFound):
        unassign(session=session, actor=town, assignment_id=first.id)
    assert _actions(session).count("site_content_assigned") == 2
