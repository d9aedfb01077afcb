"""Every route of sites (API and pages) against every role and org scope.

Callers: anonymous; a member and a publisher (no admin rights); "runner", a member of the
first branch who administers every site of the world (站点管理员: sees, never manages); "adm",
org admin of the town committee above the sites; "far", org admin of an unrelated district;
"root", platform admin. Each caller gets a world of its own; every write acts on a site of its
own, so the routes do not depend on each other.
"""

from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.people.models import Role
from core.storage import get_store
from terminals.sites import photos
from terminals.sites.assignments import assign_content
from terminals.sites.models import SiteDevice
from terminals.sites.staff import grant_site_admin
from tests.factories import make_callers, make_course, make_lesson, make_tree, make_user, token_for
from tests.terminals.sites_data import make_site

CALLERS = [None, "member", "pub", "runner", "adm", "far", "root"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def by(
    anon: int, member: int, pub: int, runner: int, adm: int, far: int, root: int
) -> dict[str | None, int]:
    """Expected status per caller, in the order of CALLERS."""
    return dict(zip(CALLERS, (anon, member, pub, runner, adm, far, root), strict=True))


@dataclass
class Case:
    """A request and the status each caller must get."""

    method: str
    path: str
    expected: dict[str | None, int]
    json: Any = None
    form: dict[str, str] | None = None
    file: bytes | None = None


SITE_NAMES = (
    "read",
    "s_patch",
    "s_status",
    "s_town",
    "s_code",
    "s_admin_add",
    "s_admin_rm",
    "s_devs",
    "s_dev",
    "s_photo_add",
    "s_photo_rm",
    "s_assign",
    "s_unassign",
    "p_edit",
    "p_status",
    "p_code",
    "p_admin_add",
    "p_admin_rm",
    "p_devs",
    "p_assign",
    "p_unassign",
    "p_photo_add",
    "p_photo_rm",
)


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    tree = make_tree(session)
    callers = make_callers(session, tree)
    root = callers["root"]
    make_user(session, "runner", Role.member, tree.branch)
    course = make_course(session, callers["pub"], tree.town, "党课")
    lesson = make_lesson(session, course)
    codes = count(500101001001)
    ids: dict[str, Any] = {
        "branch": tree.branch.id,
        "town": tree.town.id,
        "course": course.id,
        "lesson": lesson.id,
    }
    for name in SITE_NAMES:
        owner = tree.town.id if name == "s_town" else tree.branch.id
        site, _ = make_site(session, root, owner, code=str(next(codes)), name=name)
        grant_site_admin(session=session, actor=root, site_id=site.id, login="runner")
        ids[name] = site.id
    for name in ("s_admin_rm", "p_admin_rm"):
        helper = make_user(session, f"helper_{name}", Role.member, tree.branch)
        grant_site_admin(session=session, actor=root, site_id=ids[name], login=helper.login)
        ids[f"{name}_user"] = helper.id
    device = SiteDevice(site_id=ids["s_dev"], token_hash="f" * 64)
    session.add_all([device, SiteDevice(site_id=ids["read"], token_hash="a" * 64)])
    store = get_store()
    for name in ("read", "s_photo_rm", "p_photo_rm"):
        ids[f"{name}_photo"] = photos.add_photo(
            session=session, store=store, actor=root, site_id=ids[name], data=PNG
        )
    for name in ("read", "s_unassign", "p_unassign"):
        ids[f"{name}_assignment"] = assign_content(
            session=session, actor=root, site_id=ids[name], course_id=course.id
        ).id
    for name, tier in (("org_unassign", "premium"), ("page_org_unassign", "basic")):
        ids[name] = assign_content(
            session=session, actor=root, org_id=tree.town.id, tier=tier, lesson_id=lesson.id
        ).id
    session.flush()
    ids["s_dev_device"] = device.id
    session.commit()
    return ids


READ_SITE = by(401, 404, 404, 200, 200, 404, 200)
PAGE_LIST = by(303, 403, 403, 403, 200, 200, 200)
PAGE_SITE = by(303, 403, 403, 403, 200, 404, 200)

READS = [
    ("/api/sites", by(401, 200, 200, 200, 200, 200, 200)),
    (
        "/api/sites?q=50&status=registered&tier=基础&presence=never&sort=last_seen&desc=true",
        by(401, 200, 200, 200, 200, 200, 200),
    ),
    ("/api/sites?org_id={branch}&page=2&per_page=5", by(401, 200, 200, 200, 200, 200, 200)),
    ("/api/sites/mine", by(401, 200, 200, 200, 200, 200, 200)),
    ("/api/sites/{read}", READ_SITE),
    ("/api/sites/{read}/devices", READ_SITE),
    ("/api/sites/{read}/assignments", READ_SITE),
    ("/api/sites/{read}/lessons", READ_SITE),
    ("/api/sites/{read}/photos/{read_photo}", READ_SITE),
    ("/api/site-assignments", by(401, 200, 200, 200, 200, 200, 200)),
    ("/admin/sites", PAGE_LIST),
    ("/admin/sites?q=石&status=registered&tier=basic&presence=offline&sort=org&desc=1", PAGE_LIST),
    ("/admin/sites?org_id={branch}", PAGE_SITE),
    ("/admin/sites/new", PAGE_LIST),
    ("/admin/sites/assignments", PAGE_LIST),
    ("/admin/sites/{read}", PAGE_SITE),
    ("/admin/sites/{read}/edit", PAGE_SITE),
    ("/sites/{read}/photos/{read_photo}", by(303, 404, 404, 200, 200, 404, 200)),
    ("/site", by(303, 200, 200, 200, 200, 200, 200)),
]

# A site change: not found out of sight, refused to the site's own administrator.
CHANGE = by(401, 404, 404, 403, 200, 404, 200)


def _writes(ids: dict[str, Any]) -> list[Case]:
    created, deleted = by(401, 404, 404, 403, 201, 404, 201), by(401, 404, 404, 403, 204, 404, 204)
    page = by(303, 403, 403, 403, 303, 404, 303)
    content = {"content": f"c:{ids['course']}"}
    return [
        Case(
            "POST",
            "/api/sites",
            by(401, 403, 403, 403, 201, 403, 201),
            json={"org_id": ids["branch"], "code": "510101001001", "name": "新站", "tier": "basic"},
        ),
        Case(
            "PATCH",
            "/api/sites/{s_patch}",
            CHANGE,
            json={"name": "改名", "latitude": 29.5, "longitude": 106.5},
        ),
        Case("POST", "/api/sites/{s_status}/status", CHANGE, json={"move": "approve"}),
        # owned by the town itself: its own admin may not approve it, an admin above may
        Case(
            "POST",
            "/api/sites/{s_town}/status",
            by(401, 404, 404, 403, 403, 404, 200),
            json={"move": "approve"},
        ),
        Case("POST", "/api/sites/{s_code}/enrolment-code", created),
        Case("POST", "/api/sites/{s_admin_add}/administrators", created, json={"login": "member"}),
        Case("DELETE", "/api/sites/{s_admin_rm}/administrators/{s_admin_rm_user}", deleted),
        Case("GET", "/api/sites/{s_devs}/devices", READ_SITE),
        Case("POST", "/api/sites/{s_devs}/devices/revoke", CHANGE),
        Case("POST", "/api/sites/{s_dev}/devices/{s_dev_device}/revoke", CHANGE),
        Case("POST", "/api/sites/{s_photo_add}/photos", created, file=PNG),
        Case("DELETE", "/api/sites/{s_photo_rm}/photos/{s_photo_rm_photo}", deleted),
        Case(
            "POST", "/api/sites/{s_assign}/assignments", created, json={"course_id": ids["course"]}
        ),
        Case(
            "DELETE",
            "/api/site-assignments/{s_unassign_assignment}",
            by(401, 404, 404, 404, 204, 404, 204),
        ),
        Case(
            "POST",
            "/api/site-assignments",
            by(401, 403, 403, 403, 201, 403, 201),
            json={"org_id": ids["town"], "tier": "示范", "lesson_id": ids["lesson"]},
        ),
        Case(
            "DELETE", "/api/site-assignments/{org_unassign}", by(401, 404, 404, 404, 204, 404, 204)
        ),
        Case(
            "POST",
            "/admin/sites",
            by(303, 403, 403, 403, 201, 403, 201),
            form={
                "org_id": str(ids["branch"]),
                "code": "520101001001",
                "name": "页面站",
                "tier": "basic",
                "build_mode": "cable",
            },
        ),
        Case(
            "POST",
            "/admin/sites/{p_edit}/edit",
            page,
            form={
                "org_id": str(ids["branch"]),
                "code": "530101001001",
                "name": "改",
                "tier": "premium",
                "build_mode": "iptv",
            },
        ),
        Case("POST", "/admin/sites/{p_status}/status", page, form={"move": "suspend"}),
        Case("POST", "/admin/sites/{p_code}/code", by(303, 403, 403, 403, 200, 404, 200), form={}),
        Case("POST", "/admin/sites/{p_admin_add}/administrators", page, form={"login": "member"}),
        Case(
            "POST",
            "/admin/sites/{p_admin_rm}/administrators/{p_admin_rm_user}/remove",
            page,
            form={},
        ),
        Case("POST", "/admin/sites/{p_devs}/devices/revoke", page, form={}),
        Case("POST", "/admin/sites/{p_assign}/assignments", page, form=content),
        Case(
            "POST",
            "/admin/sites/{p_unassign}/assignments/{p_unassign_assignment}/remove",
            by(303, 403, 403, 403, 303, 404, 303),
            form={},
        ),
        Case("POST", "/admin/sites/{p_photo_add}/photos", page, file=PNG),
        Case("POST", "/admin/sites/{p_photo_rm}/photos/{p_photo_rm_photo}/remove", page, form={}),
        Case(
            "POST",
            "/admin/sites/assignments",
            by(303, 403, 403, 403, 303, 403, 303),
            form={"org_id": str(ids["town"]), **content},
        ),
        Case(
            "POST",
            "/admin/sites/assignments/{page_org_unassign}/remove",
            by(303, 403, 403, 403, 303, 404, 303),
            form={},
        ),
    ]


def _send(client: TestClient, case: Case, ids: dict[str, Any], token: str) -> int:
    path = case.path.format(**ids)
    if case.file is not None:
        response = client.post(
            path,
            files={"file": ("photo.png", case.file, "image/png")},
            data={"csrf_token": token},
            headers={"X-CSRF-Token": token},
            follow_redirects=False,
        )
    elif case.form is not None:
        response = client.request(
            case.method, path, data={**case.form, "csrf_token": token}, follow_redirects=False
        )
    else:
        response = client.request(
            case.method,
            path,
            json=case.json,
            headers={"X-CSRF-Token": token},
            follow_redirects=False,
        )
    return response.status_code


@pytest.mark.parametrize("who", CALLERS)
def test_reads(client: TestClient, world: dict[str, Any], who: str | None) -> None:
    token_for(client, who)
    wrong = []
    for route, expected in READS:
        status = client.get(route.format(**world), follow_redirects=False).status_code
        if status != expected[who]:
            wrong.append((route, status, expected[who]))
    assert not wrong, wrong


@pytest.mark.parametrize("who", CALLERS)
def test_writes(client: TestClient, world: dict[str, Any], who: str | None) -> None:
    token = token_for(client, who)
    wrong = []
    for case in _writes(world):
        status = _send(client, case, world, token)
        if status != case.expected[who]:
            wrong.append((case.method, case.path, status, case.expected[who]))
    assert not wrong, wrong


def test_writes_need_the_csrf_token(client: TestClient, world: dict[str, Any]) -> None:
    token_for(client, "root")
    site = world["s_status"]
    assert client.post(f"/api/sites/{site}/status", json={"move": "suspend"}).status_code == 403
    forged = client.post(f"/api/sites/{site}/enrolment-code", headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    page = client.post(f"/admin/sites/{site}/status", data={"move": "suspend"})
    assert page.status_code == 403
