"""Every course-library route against anonymous, member, outsider and publisher callers."""

import re
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.people.models import Organisation, Role
from core.storage import get_store
from courseware.editing import set_captions
from courseware.models import CaptionLanguage, Lesson, LessonStatus, Visibility
from courseware.service import create_course
from tests.factories import PASSWORD, log_in, make_tree, make_user, token_for

CAPTIONS = "1\n00:00:01,000 --> 00:00:02,000\n第一句\n".encode()


@pytest.fixture
def world(session: Session) -> dict[str, int]:
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    make_user(session, "member", Role.member, tree.branch)
    make_user(session, "outsider", Role.member, tree.other)
    private = create_course(session=session, user=publisher, title="支部课", org_id=tree.branch.id)
    public = create_course(
        session=session,
        user=publisher,
        title="公开课",
        org_id=tree.town.id,
        visibility=Visibility.public,
    )
    lesson = Lesson(
        course=private, title="第一课", status=LessonStatus.ready, source_key="x", duration=60.0
    )
    pending = Lesson(course=private, title="处理中", status=LessonStatus.processing, source_key="y")
    failed = Lesson(course=private, title="失败", status=LessonStatus.failed, source_key="z/a.mp4")
    get_store().put_bytes("z/a.mp4", b"source")
    session.add_all([lesson, pending, failed])
    session.flush()
    set_captions(
        session=session,
        store=get_store(),
        user=publisher,
        lesson=lesson,
        language=CaptionLanguage.zh_CN,
        data=CAPTIONS,
    )
    session.commit()
    return {
        "private": private.id,
        "public": public.id,
        "lesson": lesson.id,
        "pending": pending.id,
        "failed": failed.id,
        "town": tree.town.id,
        "branch": tree.branch.id,
        "sibling": tree.sibling.id,
        "other": tree.other.id,
    }


READS = [
    ("/api/courses/{private}", {None: 404, "member": 200, "outsider": 404, "pub": 200}),
    ("/api/courses/{public}", {None: 200, "member": 200, "outsider": 200, "pub": 200}),
    ("/api/lessons/{lesson}", {None: 404, "member": 200, "outsider": 404, "pub": 200}),
    ("/api/lessons/{pending}", {None: 404, "member": 404, "outsider": 404, "pub": 200}),
    ("/courses/{private}", {None: 404, "member": 200, "outsider": 404, "pub": 200}),
    # anonymous visitors are offered a login (test_anonymous_visitors_are_offered_a_login)
    ("/lessons/{lesson}", {None: 401, "member": 200, "outsider": 404, "pub": 200}),
    (
        "/media/lessons/{lesson}/hls/captions/zh-CN.vtt",
        {None: 404, "member": 200, "outsider": 404, "pub": 200},
    ),
    ("/upload", {None: 303, "member": 403, "outsider": 403, "pub": 200}),
]


@pytest.mark.parametrize("who", [None, "member", "outsider", "pub"])
@pytest.mark.parametrize(("route", "expected"), READS)
def test_read_routes(
    client: TestClient, world: dict[str, int], who: str | None, route: str, expected: dict
) -> None:
    if who:
        log_in(client, who)
    response = client.get(route.format(**world), follow_redirects=False)
    assert response.status_code == expected[who], response.text


MISSING = 987654


def _with_id_masked(page: str, lesson_id: int) -> str:
    """The page with the lesson id it names (in its links and its message) as "ID"."""
    return re.sub(
        rf"(?<=lessons/){lesson_id}\b|(?<=lessons%2F){lesson_id}\b|(?<= ){lesson_id}(?= )",
        "ID",
        page,
    )


def test_anonymous_visitors_are_offered_a_login_for_any_lesson_they_cannot_see(
    client: TestClient, world: dict[str, int]
) -> None:
    """The same offer for a restricted lesson and for an id no lesson has: anonymous visitors
    learn nothing of which lessons exist."""
    restricted = client.get(f"/lessons/{world['lesson']}")
    missing = client.get(f"/lessons/{MISSING}")
    assert restricted.status_code == missing.status_code == 401
    assert "登录后观看" in restricted.text and "第一课" not in restricted.text
    assert _with_id_masked(restricted.text, world["lesson"]) == _with_id_masked(
        missing.text, MISSING
    )
    login = re.search(r'href="(/login\?next=[^"]+)"', restricted.text)
    assert login is not None and unquote(login[1]) == f"/login?next=/lessons/{world['lesson']}"
    # after logging in through that link, the member is back on the lesson, and may watch it
    form = client.get(unquote(login[1])).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    following = re.search(r'name="next" value="([^"]+)"', form)
    assert token is not None and following is not None
    answer = client.post(
        "/login",
        data={
            "login": "member",
            "password": PASSWORD,
            "csrf_token": token[1],
            "next": following[1],
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/lessons/{world['lesson']}"
    page = client.get(answer.headers["location"])
    assert page.status_code == 200 and "第一课" in page.text


def test_a_logged_in_user_without_rights_sees_what_a_missing_lesson_shows(
    client: TestClient, world: dict[str, int]
) -> None:
    log_in(client, "outsider")
    restricted = client.get(f"/lessons/{world['lesson']}")
    missing = client.get(f"/lessons/{MISSING}")
    assert restricted.status_code == missing.status_code == 404
    assert "登录后观看" not in restricted.text
    assert _with_id_masked(restricted.text, world["lesson"]) == _with_id_masked(
        missing.text, MISSING
    )


def test_catalog_lists_only_visible_courses(client: TestClient, world: dict[str, int]) -> None:
    assert "公开课" in client.get("/").text and "支部课" not in client.get("/").text
    log_in(client, "member")
    page = client.get("/").text
    assert "公开课" in page and "支部课" in page


EDITOR_ONLY = {None: 401, "member": 403, "outsider": 404}
WRITES = [
    ("PATCH", "/api/courses/{private}", {"title": "新名"}, 200),
    ("DELETE", "/api/courses/{private}", None, 204),
    ("DELETE", "/api/courses/{private}/cover", None, 200),
    ("PUT", "/api/courses/{private}/lesson-order", "order", 200),
    ("PATCH", "/api/lessons/{lesson}", {"description": "简介"}, 200),
    ("DELETE", "/api/lessons/{lesson}", None, 204),
    ("DELETE", "/api/lessons/{lesson}/captions/zh-CN", None, 204),
    ("POST", "/api/lessons/{failed}/retry", None, 202),
]


@pytest.mark.parametrize("who", [None, "member", "outsider", "pub"])
@pytest.mark.parametrize(("method", "route", "body", "allowed"), WRITES)
def test_write_routes(
    client: TestClient,
    world: dict[str, int],
    who: str | None,
    method: str,
    route: str,
    body: object,
    allowed: int,
) -> None:
    token = token_for(client, who)
    if body == "order":
        body = {"lesson_ids": [world["failed"], world["pending"], world["lesson"]]}
    response = client.request(
        method, route.format(**world), json=body, headers={"X-CSRF-Token": token}
    )
    expected = allowed if who == "pub" else EDITOR_ONLY[who]
    if who == "member" and "{failed}" in route:
        expected = 404  # a failed lesson is not shown to members at all
    assert response.status_code == expected, response.text


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("member", 403), ("pub", 201)])
def test_create_course(
    client: TestClient, world: dict[str, int], who: str | None, status: int
) -> None:
    token = token_for(client, who)
    response = client.post(
        "/api/courses",
        json={"title": "新课程", "org_id": world["town"]},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == status, response.text


def test_publisher_cannot_create_outside_subtree(client: TestClient, world: dict[str, int]) -> None:
    token = log_in(client, "pub")
    response = client.post(
        "/api/courses",
        json={"title": "越权", "org_id": world["other"]},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 403


def test_unsafe_requests_need_the_csrf_token(client: TestClient, world: dict[str, int]) -> None:
    log_in(client, "pub")
    response = client.post("/api/courses", json={"title": "x", "org_id": world["town"]})
    assert response.status_code == 403
    response = client.post(
        "/api/courses",
        json={"title": "x", "org_id": world["town"]},
        headers={"X-CSRF-Token": "forged"},
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("who", "status"), [(None, 401), ("member", 403), ("outsider", 404), ("pub", 200)]
)
def test_edit_lesson(
    client: TestClient, world: dict[str, int], who: str | None, status: int
) -> None:
    token = token_for(client, who)
    response = client.patch(
        f"/api/lessons/{world['lesson']}",
        json={"credit_hours": 1.5},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == status, response.text


def test_position_is_saved_for_the_member(client: TestClient, world: dict[str, int]) -> None:
    token = log_in(client, "member")
    response = client.put(
        f"/api/lessons/{world['lesson']}/position",
        json={"seconds": 30},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 204
    page = client.get(f"/lessons/{world['lesson']}").text
    assert 'data-resume="30.0"' in page


def test_tus_upload_needs_a_login(client: TestClient, world: dict[str, int]) -> None:
    response = client.post(
        "/api/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10"}
    )
    assert response.status_code == 401


def test_non_ascii_csrf_header_is_refused_not_a_crash(
    client: TestClient, world: dict[str, int]
) -> None:
    log_in(client, "pub")
    response = client.post(
        "/api/courses",
        json={"title": "x", "org_id": world["town"]},
        headers={"X-CSRF-Token": "é".encode()},
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("who", "role", "org", "status"),
    [
        (None, None, None, 401),
        ("member", None, None, 403),
        ("outsider", None, None, 404),
        ("pub", None, None, 201),
        ("branch-pub", Role.publisher, "branch", 201),
        ("sibling-pub", Role.publisher, "sibling", 404),
        ("town-admin", Role.org_admin, "town", 201),
        ("far-admin", Role.org_admin, "other", 404),
        ("root", Role.platform_admin, "other", 201),
    ],
)
def test_captions_are_changed_exactly_by_the_lessons_editors(
    client: TestClient,
    session: Session,
    world: dict[str, int],
    who: str | None,
    role: Role | None,
    org: str | None,
    status: int,
) -> None:
    """Publishers and admins of the owning branch or above, and platform admins, add and remove
    captions; a member of the branch sees the lesson but may not; other orgs do not see it."""
    if who is not None and role is not None and org is not None:
        make_user(session, who, role, session.get_one(Organisation, world[org]))
    token = token_for(client, who)
    response = client.post(
        f"/api/lessons/{world['lesson']}/captions",
        files={"file": ("a.srt", CAPTIONS)},
        data={"language": "en"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == status, response.text
    deleted = client.delete(
        f"/api/lessons/{world['lesson']}/captions/en", headers={"X-CSRF-Token": token}
    )
    assert deleted.status_code == (204 if status == 201 else status), deleted.text
