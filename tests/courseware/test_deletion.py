"""Deleting lessons and courses: gone for everyone at once, then nothing left in storage or in
the tables, also when the lesson was being transcoded at that moment."""

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.api import in_session
from core.audit.models import AuditEntry
from core.db import session_scope
from core.jobs import execute_job
from core.jobs.models import Job, JobStatus
from core.people.models import Role, User
from core.storage import get_store
from courseware.deletion import delete_course, delete_lesson
from courseware.models import (
    Attachment,
    Course,
    Lesson,
    LessonCaption,
    LessonStatus,
    PlaybackPosition,
)
from courseware.service import (
    create_course,
    editable_courses,
    find_or_create_course,
    get_course,
)
from tests.factories import Tree, ingest, log_in, make_tree, make_user
from tests.media import make_clip
from web.app import create_app


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    make_user(session, "member", Role.member, tree.branch)
    return tree


def _user(session: Session, login: str) -> User:
    user = session.scalar(select(User).where(User.login == login))
    assert user is not None
    return user


@pytest.fixture
def course_id(session: Session, tree: Tree) -> int:
    course = create_course(
        session=session,
        user=_user(session, "pub"),
        title="学习贯彻党章",
        org_id=tree.branch.id,
        category="党建",
    )
    session.commit()
    return course.id


def _ingest(session: Session, course_id: int, clip: Path, title: str) -> tuple[int, int]:
    lesson = ingest(_user(session, "pub"), course_id, clip, title)
    assert lesson.job_id is not None
    return lesson.id, lesson.job_id


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "党课.mp4", seconds=3, width=640, height=360)


@pytest.fixture
def ready_lesson(session: Session, course_id: int, clip: Path, client: TestClient) -> int:
    """A published lesson with every kind of object: source, HLS, poster, an attachment,
    captions; and a member's saved position."""
    lesson_id, job_id = _ingest(session, course_id, clip, "第一课：党章总纲")
    assert execute_job(job_id).status is JobStatus.done
    token = log_in(client, "pub")
    attached = client.post(
        f"/api/lessons/{lesson_id}/attachments",
        files={"file": ("课件.pdf", b"%PDF-1.4 slides")},
        headers={"X-CSRF-Token": token},
    )
    assert attached.status_code == 201
    captioned = client.post(
        f"/api/lessons/{lesson_id}/captions",
        files={"file": ("字幕.srt", "1\n00:00:00,500 --> 00:00:02,000\n党章总纲\n".encode())},
        data={"language": "zh-CN"},
        headers={"X-CSRF-Token": token},
    )
    assert captioned.status_code == 201, captioned.text
    member = _user(session, "member")
    session.add(PlaybackPosition(user_id=member.id, lesson_id=lesson_id, seconds=1.0))
    session.commit()
    keys = set(get_store().list(f"lessons/{lesson_id}/"))
    assert {
        f"lessons/{lesson_id}/poster.jpg",
        f"lessons/{lesson_id}/attachments/课件.pdf",
        f"lessons/{lesson_id}/hls/captions/zh-CN.vtt",
    } < keys
    return lesson_id


def _rows(session: Session, lesson_id: int) -> list[object]:
    session.expire_all()
    return [
        *session.scalars(select(Lesson).where(Lesson.id == lesson_id)),
        *session.scalars(select(Attachment).where(Attachment.lesson_id == lesson_id)),
        *session.scalars(select(LessonCaption).where(LessonCaption.lesson_id == lesson_id)),
        *session.scalars(select(PlaybackPosition).where(PlaybackPosition.lesson_id == lesson_id)),
    ]


def _purge_job(session: Session, kind: str) -> int:
    session.expire_all()
    job_id = session.scalar(select(Job.id).where(Job.kind == kind).order_by(Job.id.desc()))
    assert job_id is not None
    return job_id


def test_a_deleted_lesson_is_gone_at_once_and_purged_by_its_job(
    client: TestClient, session: Session, course_id: int, ready_lesson: int
) -> None:
    lesson_id = ready_lesson
    member = TestClient(create_app())
    log_in(member, "member")
    urls = [
        f"/lessons/{lesson_id}",
        f"/api/lessons/{lesson_id}",
        f"/media/lessons/{lesson_id}/hls/master.m3u8",
        f"/media/lessons/{lesson_id}/hls/360p/index.m3u8",
        f"/media/lessons/{lesson_id}/poster.jpg",
        f"/media/lessons/{lesson_id}/attachments/课件.pdf",
        f"/media/lessons/{lesson_id}/hls/captions/zh-CN.vtt",
    ]
    assert [member.get(url).status_code for url in urls] == [200] * len(urls)
    assert "党章总纲" in member.get(f"/courses/{course_id}").text

    token = log_in(client, "pub")
    response = client.delete(f"/api/lessons/{lesson_id}", headers={"X-CSRF-Token": token})
    assert response.status_code == 204
    for viewer in (member, client):
        assert [viewer.get(url).status_code for url in urls] == [404] * len(urls)
        assert viewer.get(f"/api/courses/{course_id}").json()["lessons"] == []
        assert "党章总纲" not in viewer.get(f"/courses/{course_id}").text
        assert viewer.get("/api/courses", params={"q": "党章总纲"}).json() == []
    assert (
        client.delete(f"/api/lessons/{lesson_id}", headers={"X-CSRF-Token": token}).status_code
        == 404
    )

    assert execute_job(_purge_job(session, "courseware.delete_lesson")).status is JobStatus.done
    assert list(get_store().list(f"lessons/{lesson_id}/")) == []
    assert _rows(session, lesson_id) == []
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "lesson_deleted"))
    assert entry is not None and entry.target_id == str(lesson_id)


def test_processing_and_failed_lessons_are_deleted_too_and_positions_stay_dense(
    client: TestClient, session: Session, course_id: int, clip: Path
) -> None:
    ingested = [_ingest(session, course_id, clip, f"第{n}课") for n in range(1, 5)]
    ids = [lesson_id for lesson_id, _ in ingested]
    failed = session.get_one(Lesson, ids[1])
    failed.status, failed.error = LessonStatus.failed, "bad"
    session.commit()
    token = log_in(client, "pub")
    for lesson_id in (ids[1], ids[2]):  # failed, then still processing
        assert (
            client.delete(f"/api/lessons/{lesson_id}", headers={"X-CSRF-Token": token}).status_code
            == 204
        )
    shown = client.get(f"/api/courses/{course_id}").json()["lessons"]
    assert [(lesson["id"], lesson["position"]) for lesson in shown] == [(ids[0], 1), (ids[3], 2)]
    for job_id in session.scalars(select(Job.id).where(Job.kind == "courseware.delete_lesson")):
        execute_job(job_id)
    for lesson_id in (ids[1], ids[2]):
        assert list(get_store().list(f"lessons/{lesson_id}/")) == []
        assert _rows(session, lesson_id) == []
    # the deleted, still queued lesson's transcode finds nothing to do and leaves nothing
    assert execute_job(ingested[2][1]).status is JobStatus.done
    assert list(get_store().list(f"lessons/{ids[2]}/")) == []
    new_id, _ = _ingest(session, course_id, clip, "第五课")
    assert session.get_one(Lesson, new_id).position == 3


def test_a_deleted_course_is_gone_everywhere_and_purged_whole(
    client: TestClient, session: Session, tree: Tree, course_id: int, ready_lesson: int
) -> None:
    get_store().put_bytes(f"courses/{course_id}/cover.jpg", b"jpeg")
    session.get_one(Course, course_id).cover_key = f"courses/{course_id}/cover.jpg"
    session.commit()
    token = log_in(client, "pub")
    assert (
        client.delete(f"/api/courses/{course_id}", headers={"X-CSRF-Token": token}).status_code
        == 204
    )
    assert client.get(f"/courses/{course_id}").status_code == 404
    assert client.get(f"/api/courses/{course_id}").status_code == 404
    assert client.get(f"/media/courses/{course_id}/cover").status_code == 404
    assert client.get(f"/lessons/{ready_lesson}").status_code == 404
    assert client.get(f"/media/lessons/{ready_lesson}/hls/master.m3u8").status_code == 404
    assert "学习贯彻党章" not in client.get("/").text
    assert client.get("/api/courses", params={"q": "党章"}).json() == []
    assert "学习贯彻党章" not in client.get("/upload").text  # no longer an upload target
    publisher = _user(session, "pub")
    assert editable_courses(session=session, user=publisher) == []
    again = find_or_create_course(
        session=session, user=publisher, title="学习贯彻党章", org_id=tree.branch.id
    )
    assert again.id != course_id  # a new course, not the deleted one
    session.rollback()
    assert execute_job(_purge_job(session, "courseware.delete_course")).status is JobStatus.done
    assert list(get_store().list(f"courses/{course_id}/")) == []
    assert list(get_store().list(f"lessons/{ready_lesson}/")) == []
    assert _rows(session, ready_lesson) == []
    assert session.get(Course, course_id) is None
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
    assert list(actions)[-1] == "course_deleted"


def test_only_editors_delete(client: TestClient, session: Session, course_id: int) -> None:
    token = log_in(client, "member")
    assert (
        client.delete(f"/api/courses/{course_id}", headers={"X-CSRF-Token": token}).status_code
        == 403
    )
    session.expire_all()
    assert session.get_one(Course, course_id).deleted_at is None


def _delete_lesson_now(lesson_id: int) -> int:
    """An editor deletes the lesson (committed); returns the purge job."""

    def delete(session: Session) -> int:
        lesson = session.get_one(Lesson, lesson_id)
        return delete_lesson(session=session, user=_user(session, "pub"), lesson=lesson).id

    return in_session(delete)


def _delete_course_now(course_id: int) -> int:
    def delete(session: Session) -> int:
        user = _user(session, "pub")
        course = get_course(session=session, user=user, course_id=course_id)
        return delete_course(session=session, user=user, course=course).id

    return in_session(delete)


def _during_transcode(job_id: int, at: str, act: Callable[[], None]) -> None:
    """Run the transcode job and `act` once in the middle of it, as another request would: at
    its first progress report (ffmpeg running) or its last (every object written, the results
    not yet committed)."""
    done: list[bool] = []

    def progress(fraction: float) -> None:
        if not done and (at == "first" or fraction == 1.0):
            done.append(True)
            act()

    with session_scope() as session:
        assert session.get_one(Job, job_id).status is JobStatus.queued
    assert execute_job(job_id, on_progress=progress).status is JobStatus.done
    assert done, "the transcode reported no progress to act in"


@pytest.mark.parametrize("at", ["first", "last"])
@pytest.mark.parametrize("purge", ["during", "after"])
def test_a_lesson_deleted_during_its_transcode_leaves_nothing(
    session: Session, course_id: int, clip: Path, purge: str, at: str
) -> None:
    lesson_id, job_id = _ingest(session, course_id, clip, "转码中删除")
    purge_jobs: list[int] = []

    def delete() -> None:
        purge_jobs.append(_delete_lesson_now(lesson_id))
        if purge == "during":
            assert execute_job(purge_jobs[0]).status is JobStatus.done
            assert list(get_store().list(f"lessons/{lesson_id}/")) == []

    _during_transcode(job_id, at, delete)
    if purge == "after":
        assert execute_job(purge_jobs[0]).status is JobStatus.done
    assert list(get_store().list(f"lessons/{lesson_id}/")) == []
    assert _rows(session, lesson_id) == []


@pytest.mark.parametrize("at", ["first", "last"])
def test_a_course_deleted_during_a_transcode_leaves_nothing(
    session: Session, course_id: int, clip: Path, at: str
) -> None:
    lesson_id, job_id = _ingest(session, course_id, clip, "转码中删除课程")

    def delete() -> None:
        assert execute_job(_delete_course_now(course_id)).status is JobStatus.done

    _during_transcode(job_id, at, delete)
    assert list(get_store().list(f"lessons/{lesson_id}/")) == []
    assert _rows(session, lesson_id) == []
    assert session.get(Course, course_id) is None


def test_a_transcode_still_publishes_a_lesson_nobody_deleted(
    client: TestClient, session: Session, course_id: int, clip: Path
) -> None:
    lesson_id, job_id = _ingest(session, course_id, clip, "照常发布")
    _during_transcode(job_id, "last", lambda: None)
    log_in(client, "member")
    assert client.get(f"/api/lessons/{lesson_id}").json()["status"] == "ready"


def test_a_deleted_upload_is_not_reported(
    client: TestClient, session: Session, course_id: int, clip: Path
) -> None:
    lesson = ingest(_user(session, "pub"), course_id, clip, "上传的课", upload_id="upload-1")
    token = log_in(client, "pub")
    assert client.get("/api/uploads/upload-1").json()["id"] == lesson.id
    client.delete(f"/api/lessons/{lesson.id}", headers={"X-CSRF-Token": token})
    assert client.get("/api/uploads/upload-1").status_code == 404
