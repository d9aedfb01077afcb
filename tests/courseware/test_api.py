"""The course library's JSON API as editors and members use it: text limits with messages on
either engine, org-scoped find-or-create through uploads, and per-role lesson lists."""

import base64

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Role
from core.storage import get_store
from courseware.models import Course, Lesson, LessonStatus, Visibility
from courseware.service import create_course
from tests.factories import Tree, log_in, make_tree, make_user, token_for

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    make_user(session, "chief", Role.publisher, tree.district)
    make_user(session, "admin", Role.org_admin, tree.general)
    make_user(session, "member", Role.member, tree.branch)
    make_user(session, "outsider", Role.member, tree.other)
    return tree


def _course_with_lessons(session: Session, tree: Tree) -> int:
    publisher = make_user(session, "maker", Role.publisher, tree.district)
    course = create_course(session=session, user=publisher, title="支部课", org_id=tree.branch.id)
    for position, status in enumerate(LessonStatus, start=1):
        session.add(
            Lesson(
                course=course,
                position=position,
                title=f"课时-{status.value}",
                status=status,
                source_key="x",
            )
        )
    session.commit()
    return course.id


@pytest.mark.parametrize(
    ("who", "titles"),
    [
        ("member", ["课时-ready"]),
        ("pub", ["课时-processing", "课时-ready", "课时-failed"]),
        ("admin", ["课时-processing", "课时-ready", "课时-failed"]),
    ],
)
def test_a_course_lists_to_each_caller_only_the_lessons_they_may_see(
    client: TestClient, session: Session, tree: Tree, who: str, titles: list[str]
) -> None:
    course_id = _course_with_lessons(session, tree)
    log_in(client, who)
    shown = client.get(f"/api/courses/{course_id}").json()
    assert [lesson["title"] for lesson in shown["lessons"]] == titles
    listed = client.get("/api/courses").json()
    assert [lesson["title"] for lesson in listed[0]["lessons"]] == titles
    page = client.get(f"/courses/{course_id}").text
    assert [t for t in ["课时-processing", "课时-ready", "课时-failed"] if t in page] == titles


def test_an_anonymous_caller_sees_only_ready_lessons_of_a_public_course(
    client: TestClient, session: Session, tree: Tree
) -> None:
    course_id = _course_with_lessons(session, tree)
    session.execute(
        Course.__table__.update().where(Course.id == course_id).values(visibility="public")
    )
    session.commit()
    shown = client.get(f"/api/courses/{course_id}").json()
    assert [lesson["title"] for lesson in shown["lessons"]] == ["课时-ready"]


LONG_TITLE = "党" * 201


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"title": LONG_TITLE}, "课程名称有 201 个字符，最多允许 200 个。"),
        ({"title": "   "}, "课程名称不能为空。"),
        ({"title": "党课", "category": "类" * 61}, "分类有 61 个字符，最多允许 60 个。"),
        ({"title": "党课", "description": "文" * 5001}, "简介有 5001 个字符，最多允许 5000 个。"),
        ({"title": "党\n课"}, "文字中含有换行或控制字符。"),
    ],
)
def test_creating_a_course_refuses_bad_texts_with_a_message(
    client: TestClient, session: Session, tree: Tree, body: dict, message: str
) -> None:
    token = log_in(client, "pub")
    response = client.post(
        "/api/courses", json={**body, "org_id": tree.town.id}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == message
    assert session.scalars(select(Course)).all() == []


def test_a_title_of_200_characters_is_stored_whole(
    client: TestClient, session: Session, tree: Tree
) -> None:
    token = log_in(client, "pub")
    response = client.post(
        "/api/courses",
        json={"title": "党" * 200, "org_id": tree.town.id},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 201
    assert session.scalar(select(Course.title)) == "党" * 200


def test_editing_refuses_bad_texts_in_english_too(
    client: TestClient, session: Session, tree: Tree
) -> None:
    course_id = _course_with_lessons(session, tree)
    lesson_id = session.scalar(select(Lesson.id).where(Lesson.status == LessonStatus.ready))
    token = log_in(client, "pub")
    headers = {"X-CSRF-Token": token}
    client.cookies.set("lang", "en")
    course = client.patch(f"/api/courses/{course_id}", json={"title": LONG_TITLE}, headers=headers)
    assert course.status_code == 400
    assert (
        course.json()["detail"] == "The course title has 201 characters; at most 200 are allowed."
    )
    lesson = client.patch(
        f"/api/lessons/{lesson_id}", json={"description": "x" * 5001}, headers=headers
    )
    assert lesson.status_code == 400
    assert "at most 5000" in lesson.json()["detail"]
    renamed = client.patch(f"/api/lessons/{lesson_id}", json={"title": "t" * 201}, headers=headers)
    assert renamed.status_code == 400
    session.expire_all()
    assert session.get_one(Course, course_id).title == "支部课"
    assert session.get_one(Lesson, lesson_id).title == "课时-ready"


def _metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def _upload(client: TestClient, token: str, data: bytes, **meta: str) -> TestClient:
    """Create a tus upload and send all of it; returns the creation response."""
    created = client.post(
        "/api/uploads",
        headers={
            **TUS,
            "X-CSRF-Token": token,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _metadata(**meta),
        },
    )
    if created.status_code != 201:
        return created  # type: ignore[return-value]
    sent = client.patch(
        created.headers["location"],
        content=data,
        headers={
            **TUS,
            "X-CSRF-Token": token,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert sent.status_code == 204, sent.text
    return created  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"course_title": LONG_TITLE}, "课程名称有 201 个字符，最多允许 200 个。"),
        ({"course_title": "新课", "title": "课" * 201}, "课时名称有 201 个字符，最多允许 200 个。"),
        ({"course_title": "新课", "filename": "长" * 81 + ".mp4"}, "文件名有 85 个字符"),
    ],
)
def test_tus_metadata_is_checked_before_the_upload_starts(
    client: TestClient, session: Session, tree: Tree, meta: dict, message: str
) -> None:
    token = log_in(client, "pub")
    given = {"filename": "a.mp4", "title": "第一课", "org_id": str(tree.town.id), **meta}
    response = _upload(client, token, b"0123456789", **given)
    assert response.status_code == 400, response.text
    assert message in response.text
    assert session.scalars(select(Course)).all() == []


def test_an_upload_never_lands_in_another_orgs_course_of_the_same_name(
    client: TestClient, session: Session, tree: Tree
) -> None:
    maker = make_user(session, "maker", Role.publisher, tree.district)
    branch_course = create_course(session=session, user=maker, title="党课", org_id=tree.branch.id)
    session.commit()
    token = log_in(client, "chief")  # publishes for the whole district, branch included
    created = _upload(
        client,
        token,
        b"0123456789",
        filename="a.mp4",
        title="第一课",
        course_title="党课",
        org_id=str(tree.town.id),
    )
    assert created.status_code == 201
    upload_id = created.headers["location"].rstrip("/").split("/")[-1]
    lesson = client.get(f"/api/uploads/{upload_id}").json()
    course = session.get_one(Course, lesson["course_id"])
    assert course.id != branch_course.id
    assert (course.title, course.org_id) == ("党课", tree.town.id)
    again = _upload(
        client,
        token,
        b"abcdefghij",
        filename="b.mp4",
        title="第二课",
        course_title="党课",
        org_id=str(tree.town.id),
    )
    second = client.get(
        f"/api/uploads/{again.headers['location'].rstrip('/').split('/')[-1]}"
    ).json()
    assert second["course_id"] == course.id  # found again in its own org
    assert session.scalars(select(Lesson).where(Lesson.course_id == branch_course.id)).all() == []


@pytest.mark.parametrize("who", [None, "member", "outsider"])
def test_only_editors_change_a_course(
    client: TestClient, session: Session, tree: Tree, who: str | None
) -> None:
    course_id = _course_with_lessons(session, tree)
    token = token_for(client, who)
    response = client.patch(
        f"/api/courses/{course_id}", json={"title": "改名"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code in (401, 403, 404)
    session.expire_all()
    assert session.get_one(Course, course_id).title == "支部课"


def test_visibility_is_public_or_the_owners_subtree(
    client: TestClient, session: Session, tree: Tree
) -> None:
    course_id = _course_with_lessons(session, tree)
    token = log_in(client, "pub")
    response = client.patch(
        f"/api/courses/{course_id}",
        json={"visibility": "everyone"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 422
    response = client.patch(
        f"/api/courses/{course_id}",
        json={"visibility": Visibility.public.value},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 200 and response.json()["visibility"] == "public"


def test_attachment_names_are_checked_not_cut(
    client: TestClient, session: Session, tree: Tree
) -> None:
    _course_with_lessons(session, tree)
    lesson_id = session.scalar(select(Lesson.id).where(Lesson.status == LessonStatus.ready))
    token = log_in(client, "pub")
    long_name = "课件" * 41 + ".pdf"
    refused = client.post(
        f"/api/lessons/{lesson_id}/attachments",
        files={"file": (long_name, b"%PDF")},
        headers={"X-CSRF-Token": token},
    )
    assert refused.status_code == 400
    assert refused.json()["detail"] == "文件名有 86 个字符，最多允许 80 个。"
    assert list(get_store().list(f"lessons/{lesson_id}/")) == []
    kept = client.post(
        f"/api/lessons/{lesson_id}/attachments",
        files={"file": ("第一讲 课件.pdf", b"%PDF")},
        headers={"X-CSRF-Token": token},
    )
    assert kept.status_code == 201 and kept.json()["name"] == "第一讲_课件.pdf"


def test_the_upload_form_states_the_limits_the_server_checks(
    client: TestClient, tree: Tree
) -> None:
    log_in(client, "pub")
    page = client.get("/upload").text
    assert 'name="course_title" id="course-title" maxlength="200"' in page
    assert 'name="title" id="title" required maxlength="200"' in page
