"""End to end through the real upload API, as a site's agent does: enrol, upload a group
session (roll call, intervals, frames) for members, then each member's transcript shows the
credit and the site page and /api/sites/{id}/sessions show the roll call and frames; replayed
and reordered uploads change nothing. Also: who reaches the evidence routes (every route x role
x scope), and a device token reaches neither them nor another site's data."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.db import utcnow
from core.people.models import Role
from terminals.sites.staff import grant_site_admin
from tests.factories import log_in, make_callers, make_course, make_tree, make_user
from tests.terminals.group_sessions import FRAME_JPEG, session_script
from tests.terminals.study import make_member
from tests.terminals.sync_fixtures import make_site


def _enrol(client: TestClient, code: str) -> str:
    answer = client.post("/api/terminal/enrol", json={"code": code, "hostname": "box"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def as_caller(client: TestClient, caller: str | None) -> None:
    """Be `caller` (logged in through the form) or anonymous."""
    client.cookies.clear()
    if caller:
        log_in(client, caller)


def _upload(client: TestClient, token: str, agent: uuid.UUID, records: list[Any]) -> Any:
    answer = client.post(
        "/api/terminal/records",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "agent_id": str(agent),
            "sent_at": datetime.now(UTC).isoformat(),
            "records": [r.model_dump(mode="json") for r in records],
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    tree = make_tree(session)
    callers = make_callers(session, tree)
    site = make_site(session, tree.branch, "500100000001", enrol="ENROL-A1")
    other = make_site(session, tree.other, "500100000002", enrol="ENROL-B2")
    runner = make_user(session, "runner", Role.member, tree.branch)
    grant_site_admin(session=session, actor=callers["root"], site_id=site.id, login=runner.login)
    session.commit()
    publisher = make_user(session, "pub2", Role.publisher, tree.district)
    course = make_course(session, publisher, tree.district)
    from courseware.models import Lesson

    lessons = []
    for title in ("全课", "半课"):
        lesson = Lesson(
            course=course, title=title, duration=12.0, credit_hours=1.5,
            source_key="lessons/x/source/a.mp4",
        )  # fmt: skip
        session.add(lesson)
        lessons.append(lesson)
    session.commit()
    one, one_user = make_member(session, tree.branch, "张三", 9101, login="zhang")
    two, _ = make_member(session, tree.branch, "李四", 9102)
    late, _ = make_member(session, tree.branch, "王五", 9103)
    return {
        "tree": tree,
        "site": site,
        "other": other,
        "lessons": lessons,
        "members": [one, two, late],
        "callers": callers,
    }


def test_a_group_session_uploaded_by_an_agent_credits_its_members(
    client: TestClient, world: dict[str, Any]
) -> None:
    token = _enrol(client, "ENROL-A1")
    one, two, late = world["members"]
    full, part = world["lessons"]
    script = session_script(
        start=utcnow() - timedelta(hours=1),
        lesson_full=full.id,
        lesson_part=part.id,
        stayed=[one.id, two.id],
        left_early=[late.id],
    )
    # Out of order and in pieces: the end first, then the rest backwards, then everything again.
    records = script.records
    first = _upload(client, token, script.agent, [records[-1]])
    assert first["high_water"] == 0
    for record in reversed(records[:-1]):
        _upload(client, token, script.agent, [record])
    again = _upload(client, token, script.agent, records)
    assert again["duplicates"] == len(records) and again["high_water"] == len(records)

    as_caller(client, "adm")
    for member in (one, two):
        transcript = client.get(f"/api/members/{member.id}/transcript")
        assert transcript.status_code == 200, transcript.text
        text = transcript.text
        entries = transcript.json()["entries"]
        assert [(e["lesson_id"], e["hours"], e["source"], e["category"]) for e in entries] == [
            (full.id, 1.5, "site", "group")
        ], text
        groups = [
            (g["title"], g["qualified"], g["lessons"]) for g in transcript.json()["group_sessions"]
        ]
        assert groups == [("十一月集中学习", True, ["全课", "半课"])], text
    refused = client.get(f"/api/members/{late.id}/transcript")
    assert refused.json()["entries"] == []  # checked out before the lesson played
    (attended,) = refused.json()["group_sessions"]
    assert not attended["qualified"] and attended["site_name"] == world["site"].name

    sessions = client.get(f"/api/sites/{world['site'].id}/sessions")
    assert sessions.status_code == 200
    (shown,) = sessions.json()
    assert shown["complete"] and shown["expected"] == 4 and shown["present"] == 3
    names = {row["name"]: row["qualified"] for row in shown["roll_call"]}
    assert names == {"张三": True, "李四": True, "王五": False}
    assert len(shown["frames"]) == 3
    picture = client.get(shown["frames"][0]["url"])
    assert picture.status_code == 200 and picture.content == FRAME_JPEG


def test_the_site_page_shows_roll_call_and_frames(
    client: TestClient, world: dict[str, Any]
) -> None:
    token = _enrol(client, "ENROL-A1")
    one, two, late = world["members"]
    full, part = world["lessons"]
    script = session_script(
        start=utcnow() - timedelta(hours=1), lesson_full=full.id, lesson_part=part.id,
        stayed=[one.id, two.id], left_early=[late.id],
    )  # fmt: skip
    _upload(client, token, script.agent, script.records)
    beat = {"powered_on_at": utcnow().isoformat(), "now_playing": full.id,
            "disk_free_bytes": 52_000_000_000, "agent_version": "1.2.0"}  # fmt: skip
    client.post("/api/terminal/heartbeat", headers={"Authorization": f"Bearer {token}"}, json=beat)
    as_caller(client, "adm")
    page = client.get(f"/admin/sites/{world['site'].id}")
    assert page.status_code == 200
    for text in ("十一月集中学习", "张三", "王五", "/frames/", "52.0 GB", "1.2.0"):
        assert text in page.text
    as_caller(client, "runner")
    mine = client.get("/site", headers={"Accept-Language": "en"})
    assert mine.status_code == 200 and "十一月集中学习" in mine.text


CALLERS = [None, "member", "pub", "runner", "adm", "far", "root"]
# who may read the evidence of the branch's site: its org admins (adm, root) and its runner.
ALLOWED = {"runner": 200, "adm": 200, "root": 200}


def test_every_evidence_route_against_every_role_and_scope(
    client: TestClient, world: dict[str, Any], session: Session
) -> None:
    token = _enrol(client, "ENROL-A1")
    one, two, late = world["members"]
    full, part = world["lessons"]
    script = session_script(
        start=utcnow() - timedelta(hours=1), lesson_full=full.id, lesson_part=part.id,
        stayed=[one.id], left_early=[],
    )  # fmt: skip
    _upload(client, token, script.agent, script.records)
    from sqlalchemy import select

    from terminals.sessions.models import SiteFrame

    frame = session.scalars(select(SiteFrame)).first()
    assert frame is not None
    site = world["site"].id
    routes = [
        f"/api/sites/{site}/heartbeats",
        f"/api/sites/{site}/sessions",
        f"/sites/{site}/frames/{frame.id}.jpg",
    ]
    for caller in CALLERS:
        as_caller(client, caller)
        for path in routes:
            status = client.get(path, follow_redirects=False).status_code
            # An anonymous page request is sent to the login page; the API answers 401.
            anonymous = 401 if path.startswith("/api/") else 303
            expected = ALLOWED.get(caller or "", anonymous if caller is None else 404)
            assert status == expected, (caller, path, status)
    # The device token is not a user: none of these routes, nor the admin pages.
    as_caller(client, None)
    device = {"Authorization": f"Bearer {token}"}
    for path in [*routes, f"/admin/sites/{site}"]:
        status = client.get(path, headers=device, follow_redirects=False).status_code
        assert status == (401 if path.startswith("/api/") else 303), path
    # Another site's frame is not reachable through this site's id, even by its admin.
    other_frame = f"/sites/{world['other'].id}/frames/{frame.id}.jpg"
    as_caller(client, "root")
    assert client.get(other_frame).status_code == 404


def test_a_device_reaches_only_its_own_sites_records(
    client: TestClient, world: dict[str, Any]
) -> None:
    token_a = _enrol(client, "ENROL-A1")
    token_b = _enrol(client, "ENROL-B2")
    one = world["members"][0]
    full, part = world["lessons"]
    script = session_script(
        start=utcnow() - timedelta(hours=1), lesson_full=full.id, lesson_part=part.id,
        stayed=[one.id], left_early=[],
    )  # fmt: skip
    _upload(client, token_a, script.agent, script.records)
    # Site B's device sends A's records (same UUIDs): refused, and A's session is untouched.
    answer = client.post(
        "/api/terminal/records",
        headers={"Authorization": f"Bearer {token_b}"},
        json={
            "agent_id": str(script.agent),
            "sent_at": datetime.now(UTC).isoformat(),
            "records": [r.model_dump(mode="json") for r in script.records],
        },
    )
    assert answer.status_code == 400
    # B's device cannot read the site evidence routes of either site.
    for site in (world["site"].id, world["other"].id):
        assert (
            client.get(
                f"/api/sites/{site}/sessions", headers={"Authorization": f"Bearer {token_b}"}
            ).status_code
            == 401
        )
