"""Deleting lessons and courses: gone for everyone at once, then purged from storage by a job.

Deleting sets `deleted_at`, so the lesson or course disappears from every list, page, media
route and search in the same commit. A job then removes every object under `lessons/{id}/`
(source, HLS with its captions, poster, attachments) and `courses/{id}/` (cover), and after
them the rows.

A transcode may still be running when its lesson is deleted. It writes its objects first and
checks the lesson last (`lesson_for_job`, before its results are committed): if the lesson is
deleted by then, the transcode removes what it wrote. Every object it wrote before that check
was written before the deletion committed, so the purge job, which runs after, removes it. Either
way nothing stays behind.
"""

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, PermissionDenied
from core.i18n import N_
from core.jobs import create_job
from core.jobs.models import Job
from core.people.models import User
from core.storage import ObjectStore
from courseware.models import Attachment, Course, Lesson, LessonCaption, PlaybackPosition
from courseware.permissions import can_edit_course

DELETE_LESSON_JOB = "courseware.delete_lesson"
DELETE_COURSE_JOB = "courseware.delete_course"


def renumber_lessons(*, session: Session, course_id: int) -> None:
    """Give the course's lessons the positions 1..n in their current order (dense, unique)."""
    lessons = session.scalars(
        select(Lesson)
        .where(Lesson.course_id == course_id, Lesson.deleted_at.is_(None))
        .order_by(Lesson.position, Lesson.id)
    )
    for position, lesson in enumerate(lessons, start=1):
        lesson.position = position


def delete_lesson(*, session: Session, user: User, lesson: Lesson) -> Job:
    """Delete a lesson in any state (ready, processing, failed); returns the purge job, to
    enqueue after commit."""
    course = lesson.course
    if not can_edit_course(user, course):
        raise PermissionDenied(N_("You may not delete this lesson."))
    lesson.deleted_at, lesson.position = utcnow(), 0
    session.flush()
    renumber_lessons(session=session, course_id=course.id)
    record(
        session=session,
        action="lesson_deleted",
        actor=user,
        target_type="lesson",
        target_id=lesson.id,
        org_id=course.org_id,
        detail={"title": lesson.title, "course_id": course.id, "status": lesson.status.value},
    )
    return create_job(session=session, kind=DELETE_LESSON_JOB, payload={"lesson_id": lesson.id})


def delete_course(*, session: Session, user: User, course: Course) -> Job:
    """Delete a course with all its lessons; returns the purge job, to enqueue after commit."""
    if not can_edit_course(user, course):
        raise PermissionDenied(N_("You may not delete this course."))
    lessons = len(course.lessons)
    course.deleted_at = utcnow()
    record(
        session=session,
        action="course_deleted",
        actor=user,
        target_type="course",
        target_id=course.id,
        org_id=course.org_id,
        detail={"title": course.title, "lessons": lessons},
    )
    session.flush()
    return create_job(session=session, kind=DELETE_COURSE_JOB, payload={"course_id": course.id})


def purged_prefixes(
    *, session: Session, lesson_id: int | None = None, course_id: int | None = None
) -> list[str]:
    """The storage prefixes a purge removes: of one deleted lesson, or of a deleted course with
    all its lessons, their uploaded sources included (those live under `sources/`, stored before
    the lesson existed). Refused for what is not deleted: a purge never removes live content."""
    if lesson_id is not None:
        lesson = session.get(Lesson, lesson_id)
        if lesson is not None and lesson.deleted_at is None and lesson.course.deleted_at is None:
            raise InvalidInput(N_("Lesson %(id)s is not deleted."), id=lesson_id)
        lessons = [lesson] if lesson is not None else []
        prefixes = [f"lessons/{lesson_id}/"]
    else:
        course = session.get(Course, course_id)
        if course is not None and course.deleted_at is None:
            raise InvalidInput(N_("Course %(id)s is not deleted."), id=course_id)
        lessons = list(session.scalars(select(Lesson).where(Lesson.course_id == course_id)))
        prefixes = [f"lessons/{lesson.id}/" for lesson in lessons] + [f"courses/{course_id}/"]
    sources = [_source_folder(lesson.source_key) for lesson in lessons]
    return prefixes + [folder for folder in sources if folder is not None]


def _source_folder(source_key: str) -> str | None:
    """The folder of an uploaded source stored apart from its lesson (`sources/{random}/`)."""
    folder, _, _name = source_key.rpartition("/")
    return f"{folder}/" if folder.startswith("sources/") else None


def remove_rows(
    *, session: Session, lesson_id: int | None = None, course_id: int | None = None
) -> None:
    """After their objects: the rows of a purged lesson, or of a purged course and its lessons.
    Objects go first, so a failure in between leaves rows pointing at what is left, never
    objects that nothing points to."""
    if lesson_id is not None:
        lesson_ids = [lesson_id]
    else:
        lesson_ids = list(session.scalars(select(Lesson.id).where(Lesson.course_id == course_id)))
    session.execute(delete(Attachment).where(Attachment.lesson_id.in_(lesson_ids)))
    session.execute(delete(LessonCaption).where(LessonCaption.lesson_id.in_(lesson_ids)))
    session.execute(delete(PlaybackPosition).where(PlaybackPosition.lesson_id.in_(lesson_ids)))
    session.execute(delete(Lesson).where(Lesson.id.in_(lesson_ids)))
    if course_id is not None:
        session.execute(delete(Course).where(Course.id == course_id))


def lesson_for_job(
    *, session: Session, store: ObjectStore, lesson_id: int, job_id: int, lock: bool = False
) -> Lesson | None:
    """The lesson a transcode job may still work on and publish, or None.

    A deleted (or already purged) lesson's objects are removed here, so what the job wrote is
    not left behind. A lesson that points to another job (retried since, or on SQLite a new
    lesson that was given a purged lesson's id) is left alone: its own job writes it. Nothing
    the caller changed is flushed before the check. With `lock` (the last check, just before
    the results are committed) the lesson's row stays locked on PostgreSQL until the caller
    commits, so a deletion cannot slip in between.
    """
    query = (
        select(Lesson.job_id, Lesson.deleted_at, Course.deleted_at)
        .join(Lesson.course)
        .where(Lesson.id == lesson_id)
    )
    with session.no_autoflush:
        row = session.execute(query.with_for_update(of=Lesson) if lock else query).first()
    if row is None or row[1] is not None or row[2] is not None:
        store.delete_prefix(f"lessons/{lesson_id}/")
        return None
    if row[0] != job_id:
        return None
    return session.get_one(Lesson, lesson_id)
