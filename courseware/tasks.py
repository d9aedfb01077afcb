"""Background jobs of the course library: transcoding a lesson, purging deleted content."""

from sqlalchemy.orm import Session

from core.db import session_scope
from core.jobs import Attempt, job_type
from core.jobs.models import Job
from core.settings import get_settings
from core.storage import get_store
from courseware.deletion import (
    DELETE_COURSE_JOB,
    DELETE_LESSON_JOB,
    lesson_for_job,
    purged_prefixes,
    remove_rows,
)
from courseware.service import TRANSCODE_JOB, mark_lesson_failed, publish_lesson, transcode_lesson


def _lesson_failed(session: Session, job: Job, reason: str) -> None:
    lesson_id = job.payload["lesson_id"]
    if lesson_for_job(session=session, store=get_store(), lesson_id=lesson_id, job_id=job.id):
        mark_lesson_failed(session=session, lesson_id=lesson_id, reason=reason)


@job_type(
    TRANSCODE_JOB, timeout=get_settings().transcode_timeout_seconds, on_failure=_lesson_failed
)
def run_transcode(attempt: Attempt) -> None:
    """Transcode the job's lesson with no database session open while ffmpeg runs and uploads,
    then publish it in one short transaction, only if this attempt still owns the job and the
    lesson was not deleted meanwhile (what the job wrote is then removed)."""
    settings = get_settings()
    store, lesson_id = get_store(), attempt.payload["lesson_id"]
    with session_scope() as session:
        lesson = lesson_for_job(
            session=session, store=store, lesson_id=lesson_id, job_id=attempt.job_id
        )
        if lesson is None:
            return
        source_key = lesson.source_key
    result = transcode_lesson(
        store=store,
        lesson_id=lesson_id,
        source_key=source_key,
        workdir=settings.home / "work" / f"job-{attempt.job_id}",
        heights=settings.ladder_heights,
        on_progress=attempt.progress,
        cancel=attempt.stopping,
        timeout=attempt.time_left(),
    )
    with attempt.finish() as session:
        # The last word before the result is committed: the lesson's row stays locked until then.
        if lesson_for_job(
            session=session, store=store, lesson_id=lesson_id, job_id=attempt.job_id, lock=True
        ):
            publish_lesson(session=session, lesson_id=lesson_id, result=result)


def _purge(attempt: Attempt, *, lesson_id: int | None = None, course_id: int | None = None) -> None:
    """Remove deleted content: its objects with no transaction open, then its rows."""
    with session_scope() as session:
        prefixes = purged_prefixes(session=session, lesson_id=lesson_id, course_id=course_id)
    store = get_store()
    for prefix in prefixes:
        attempt.check()
        store.delete_prefix(prefix)
    with attempt.finish() as session:
        remove_rows(session=session, lesson_id=lesson_id, course_id=course_id)


@job_type(DELETE_LESSON_JOB)
def run_delete_lesson(attempt: Attempt) -> None:
    """Remove a deleted lesson's objects from storage, then its rows."""
    _purge(attempt, lesson_id=attempt.payload["lesson_id"])


@job_type(DELETE_COURSE_JOB)
def run_delete_course(attempt: Attempt) -> None:
    """Remove a deleted course's lessons, cover and rows."""
    _purge(attempt, course_id=attempt.payload["course_id"])
