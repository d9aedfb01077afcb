"""Editors at work: course metadata and publishing scope, covers, lesson order, retries; each
change audited."""

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.db import session_scope
from core.errors import PermissionDenied
from core.jobs import execute_job
from core.jobs.models import Job, JobStatus
from core.media import ffmpeg_exe
from core.people.models import Role, User
from core.storage import get_store
from courseware.editing import update_course
from courseware.models import Course, Lesson, LessonStatus
from courseware.service import create_course
from tests.factories import Tree, ingest, log_in, make_tree, make_user
from tests.media import make_clip
from web.app import create_app


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    make_user(session, "branch_pub", Role.publisher, tree.branch)
    make_user(session, "member", Role.member, tree.branch)
    make_user(session, "outsider", Role.member, tree.other)
    return tree


@pytest.fixture
def course_id(session: Session, tree: Tree) -> int:
    publisher = session.scalar(select(User).where(User.login == "pub"))
    assert publisher is not None
    course = create_course(session=session, user=publisher, title="党课", org_id=tree.branch.id)
    for position, title in enumerate(["第一课", "第二课", "第三课"], start=1):
        session.add(
            Lesson(
                course=course,
                position=position,
                title=title,
                status=LessonStatus.ready,
                source_key="x",
                duration=60,
            )
        )
    session.commit()
    return course.id


def _actions(session: Session) -> list[str]:
    session.expire_all()
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [entry.action for entry in entries if entry.action != "login"]


def test_course_metadata_is_edited_and_audited(
    client: TestClient, session: Session, tree: Tree, course_id: int
) -> None:
    token = log_in(client, "pub")
    response = client.patch(
        f"/api/courses/{course_id}",
        json={"title": " 新党课 ", "description": "第一行\n第二行", "category": "党建"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "新党课"
    session.expire_all()
    course = session.get_one(Course, course_id)
    assert (course.title, course.description, course.category) == (
        "新党课",
        "第一行\n第二行",
        "党建",
    )
    assert _actions(session) == ["course_updated"]
    page = client.get(f"/courses/{course_id}").text
    assert 'maxlength="200"' in page and 'maxlength="60"' in page and 'maxlength="5000"' in page
    assert "第一行\n第二行" in page


def test_publishing_to_everyone_is_audited_as_published(
    client: TestClient, session: Session, tree: Tree, course_id: int
) -> None:
    anonymous = TestClient(create_app())
    assert anonymous.get(f"/courses/{course_id}").status_code == 404
    token = log_in(client, "pub")
    client.patch(
        f"/api/courses/{course_id}", json={"visibility": "public"}, headers={"X-CSRF-Token": token}
    )
    assert anonymous.get(f"/courses/{course_id}").status_code == 200
    assert _actions(session) == ["course_updated", "course_published"]
    client.patch(
        f"/api/courses/{course_id}", json={"visibility": "org"}, headers={"X-CSRF-Token": token}
    )
    assert anonymous.get(f"/courses/{course_id}").status_code == 404
    assert _actions(session) == ["course_updated", "course_published", "course_updated"]


def test_a_course_moves_only_to_an_org_its_editor_publishes_for(
    client: TestClient, session: Session, tree: Tree, course_id: int
) -> None:
    branch_pub = session.scalar(select(User).where(User.login == "branch_pub"))
    assert branch_pub is not None
    course = session.get_one(Course, course_id)
    with pytest.raises(PermissionDenied):  # the town is above the branch publisher
        update_course(session=session, user=branch_pub, course=course, org_id=tree.town.id)
    session.rollback()
    token = log_in(client, "pub")
    moved = client.patch(
        f"/api/courses/{course_id}",
        json={"org_id": tree.sibling.id},
        headers={"X-CSRF-Token": token},
    )
    assert moved.status_code == 200 and moved.json()["org_id"] == tree.sibling.id
    refused = client.patch(
        f"/api/courses/{course_id}", json={"org_id": tree.other.id}, headers={"X-CSRF-Token": token}
    )
    assert refused.status_code == 403
    session.expire_all()
    assert session.get_one(Course, course_id).org_id == tree.sibling.id
    member = TestClient(create_app())
    log_in(member, "member")  # in the first branch: the course left its subtree
    assert member.get(f"/courses/{course_id}").status_code == 404


def test_lesson_description_is_edited_and_shown(
    client: TestClient, session: Session, tree: Tree, course_id: int
) -> None:
    lesson_id = session.scalar(select(Lesson.id).where(Lesson.title == "第一课"))
    token = log_in(client, "pub")
    response = client.patch(
        f"/api/lessons/{lesson_id}",
        json={"description": "本课讲解党章总纲。", "credit_hours": 1.5},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 200 and response.json()["description"] == "本课讲解党章总纲。"
    page = client.get(f"/lessons/{lesson_id}").text
    assert "本课讲解党章总纲。" in page and 'maxlength="5000"' in page
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "lesson_updated"))
    assert entry is not None and entry.detail == {"description": True, "credit_hours": 1.5}


def _picture(tmp_path: Path, name: str, *extra: str) -> bytes:
    path = tmp_path / name
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180"]
        + ["-frames:v", "1", *extra, str(path)],
        check=True,
    )
    return path.read_bytes()


@pytest.mark.parametrize(("name", "kind"), [("c.jpg", "jpg"), ("c.png", "png"), ("c.webp", "webp")])
def test_a_cover_is_stored_served_and_shown_on_the_catalog_card(
    client: TestClient,
    session: Session,
    tree: Tree,
    course_id: int,
    tmp_path: Path,
    name: str,
    kind: str,
) -> None:
    data = _picture(tmp_path, name)
    token = log_in(client, "pub")
    response = client.put(
        f"/api/courses/{course_id}/cover",
        files={"file": ("anything.bin", data, "application/octet-stream")},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 200, response.text
    cover = response.json()["cover"]
    assert cover.startswith(f"/media/courses/{course_id}/cover?v=")
    assert get_store().get_bytes(f"courses/{course_id}/cover.{kind}") == data
    served = client.get(cover)
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == f"image/{'jpeg' if kind == 'jpg' else kind}"
    assert f'src="{cover}"' in client.get("/").text.replace("&amp;", "&")
    outsider = TestClient(create_app())
    log_in(outsider, "outsider")
    assert outsider.get(cover).status_code == 404  # the course is the branch's own
    removed = client.delete(f"/api/courses/{course_id}/cover", headers={"X-CSRF-Token": token})
    assert removed.json()["cover"] is None
    assert list(get_store().list(f"courses/{course_id}/")) == []


def test_a_new_cover_of_another_format_replaces_the_old_one(
    client: TestClient, tree: Tree, course_id: int, tmp_path: Path
) -> None:
    token = log_in(client, "pub")
    for name in ("c.png", "c.jpg"):
        client.put(
            f"/api/courses/{course_id}/cover",
            files={"file": (name, _picture(tmp_path, name))},
            headers={"X-CSRF-Token": token},
        )
    assert list(get_store().list(f"courses/{course_id}/")) == [f"courses/{course_id}/cover.jpg"]


def test_covers_are_checked_by_their_content(
    client: TestClient, session: Session, tree: Tree, course_id: int, tmp_path: Path
) -> None:
    png = _picture(tmp_path, "c.png")
    bomb = _picture(tmp_path, "bomb.png", "-vf", "scale=8000:8000")
    gif = _picture(tmp_path, "c.gif")
    cases = [
        (gif, "封面必须是 JPEG、PNG 或 WebP 图片。"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "封面必须是 JPEG、PNG 或 WebP 图片。"),
        (png[: len(png) // 2], "图片已损坏或不完整。"),
        (png[:8] + b"\x00" * 200, "图片已损坏或不完整。"),
        (bomb, "图片为 8000×8000 像素，每边最多 4096 像素。"),
        (png + b"\x00" * (5 * 1024 * 1024), "图片超过 5 MB。"),
    ]
    token = log_in(client, "pub")
    for data, message in cases:
        response = client.put(
            f"/api/courses/{course_id}/cover",
            files={"file": ("cover.png", data, "image/png")},
            headers={"X-CSRF-Token": token},
        )
        assert (response.status_code, response.json()["detail"]) == (400, message)
    assert list(get_store().list(f"courses/{course_id}/")) == []
    member = TestClient(create_app())
    member_token = log_in(member, "member")
    response = member.put(
        f"/api/courses/{course_id}/cover",
        files={"file": ("cover.png", png)},
        headers={"X-CSRF-Token": member_token},
    )
    assert response.status_code == 403


def _order(session: Session, course_id: int) -> list[tuple[int, str]]:
    session.expire_all()
    lessons = session.scalars(
        select(Lesson).where(Lesson.course_id == course_id).order_by(Lesson.position)
    )
    return [(lesson.position, lesson.title) for lesson in lessons]


def test_lessons_are_reordered_with_the_full_list(
    client: TestClient, session: Session, tree: Tree, course_id: int
) -> None:
    ids = {lesson.title: lesson.id for lesson in session.scalars(select(Lesson))}
    token = log_in(client, "pub")
    new = [ids["第三课"], ids["第一课"], ids["第二课"]]
    response = client.put(
        f"/api/courses/{course_id}/lesson-order",
        json={"lesson_ids": new},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 200
    assert [lesson["id"] for lesson in response.json()] == new
    assert _order(session, course_id) == [(1, "第三课"), (2, "第一课"), (3, "第二课")]
    shown = client.get(f"/api/courses/{course_id}").json()["lessons"]
    assert [lesson["title"] for lesson in shown] == ["第三课", "第一课", "第二课"]
    assert _actions(session) == ["course_updated"]


@pytest.mark.parametrize(
    "change",
    [
        lambda ids: ids[:2],  # one missing
        lambda ids: [*ids, ids[0]],  # one twice
        lambda ids: [ids[0], ids[1], ids[1]],  # duplicate instead of one
        lambda ids: [*ids, 999_999],  # one that is not the course's
        lambda ids: [],
    ],
)
def test_an_order_that_does_not_match_the_lessons_is_refused(
    client: TestClient, session: Session, tree: Tree, course_id: int, change: object
) -> None:
    ids = [lesson.id for lesson in session.scalars(select(Lesson).order_by(Lesson.position))]
    token = log_in(client, "pub")
    response = client.put(
        f"/api/courses/{course_id}/lesson-order",
        json={"lesson_ids": change(ids)},  # type: ignore[operator]
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "新的顺序必须列出本课程的每个课时，且每个只出现一次。"
    assert _order(session, course_id) == [(1, "第一课"), (2, "第二课"), (3, "第三课")]


def test_members_cannot_reorder(
    client: TestClient, session: Session, tree: Tree, course_id: int
) -> None:
    ids = [lesson.id for lesson in session.scalars(select(Lesson).order_by(Lesson.position))]
    token = log_in(client, "member")
    response = client.put(
        f"/api/courses/{course_id}/lesson-order",
        json={"lesson_ids": ids[::-1]},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 403
    assert _order(session, course_id) == [(1, "第一课"), (2, "第二课"), (3, "第三课")]


@pytest.fixture
def failed_lesson(session: Session, tree: Tree, course_id: int, tmp_path: Path) -> int:
    """A lesson with a good source whose transcode failed (say the disk was full each time)."""
    publisher = session.scalar(select(User).where(User.login == "pub"))
    assert publisher is not None
    lesson = session.get_one(
        Lesson,
        ingest(publisher, course_id, make_clip(tmp_path / "课.mp4", seconds=2), "失败的课").id,
    )
    job = session.get_one(Job, lesson.job_id)
    job.status, job.error, job.attempts = JobStatus.failed, "No space left on device", 3
    lesson.status, lesson.error = LessonStatus.failed, "No space left on device"
    session.commit()
    return lesson.id


def test_retry_transcodes_a_failed_lesson_again_as_a_new_job(
    client: TestClient, session: Session, failed_lesson: int
) -> None:
    old_job = session.get_one(Lesson, failed_lesson).job_id
    token = log_in(client, "pub")
    page = client.get(f"/lessons/{failed_lesson}").text
    assert 'id="lesson-retry"' in page
    response = client.post(f"/api/lessons/{failed_lesson}/retry", headers={"X-CSRF-Token": token})
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["state"]) == ("processing", "queued")
    assert response.json()["error"] is None
    with session_scope() as fresh:
        lesson = fresh.get_one(Lesson, failed_lesson)
        new_job = fresh.get_one(Job, lesson.job_id)
        assert new_job.id != old_job and new_job.status is JobStatus.queued
        assert new_job.attempts == 0
        assert fresh.get_one(Job, old_job).status is JobStatus.failed  # the record of that try
    again = client.post(f"/api/lessons/{failed_lesson}/retry", headers={"X-CSRF-Token": token})
    assert again.status_code == 400  # it is queued now, not failed
    execute_job(new_job.id)
    assert client.get(f"/api/lessons/{failed_lesson}").json()["status"] == "ready"
    assert "lesson_retried" in _actions(session)


def test_retry_needs_the_stored_source_and_an_editor(
    client: TestClient, session: Session, failed_lesson: int
) -> None:
    member = TestClient(create_app())
    member_token = log_in(member, "member")
    refused = member.post(
        f"/api/lessons/{failed_lesson}/retry", headers={"X-CSRF-Token": member_token}
    )
    assert refused.status_code == 404  # members do not see failed lessons at all
    get_store().delete(session.get_one(Lesson, failed_lesson).source_key)
    token = log_in(client, "pub")
    response = client.post(f"/api/lessons/{failed_lesson}/retry", headers={"X-CSRF-Token": token})
    assert response.status_code == 400
    assert response.json()["detail"] == "该课时的原始文件已不在存储中，请重新上传。"
    session.expire_all()
    assert session.get_one(Lesson, failed_lesson).status is LessonStatus.failed
