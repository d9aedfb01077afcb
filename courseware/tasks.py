"""Background jobs of the course library."""

from sqlalchemy.orm import Session

from core.jobs import Progress, job_type
from core.jobs.models import Job
from core.settings import get_settings
from core.storage import get_store
from courseware.deletion import (
    DELETE_COURSE_JOB,
    DELETE_LESSON_JOB,
    lesson_for_job,
    purge_course,
    purge_lesson,
)
from courseware.service import TRANSCODE_JOB, mark_lesson_failed, transcode_lesson


def _lesson_failed(session: Session, job: Job, reason: str) -> None:
    lesson_id = job.payload["lesson_id"]
    if lesson_for_job(session=session, store=get_store(), lesson_id=lesson_id, job_id=job.id):
        mark_lesson_failed(session=session, lesson_id=lesson_id, reason=reason)


@job_type(TRANSCODE_JOB, on_failure=_lesson_failed)
def run_transcode(session: Session, job: Job, progress: Progress) -> None:
    """Transcode and publish the job's lesson, unless it was deleted meanwhile (then what the
    job wrote is removed, before and after the work)."""
    settings = get_settings()
    store, lesson_id = get_store(), job.payload["lesson_id"]
    lesson = lesson_for_job(session=session, store=store, lesson_id=lesson_id, job_id=job.id)
    if lesson is None:
        return
    transcode_lesson(
        session=session,
        store=store,
        lesson=lesson,
        workdir=settings.home / "work" / f"job-{job.id}",
        heights=settings.ladder_heights,
        on_progress=progress,
    )
    # The last word before the results are committed: a lesson deleted meanwhile is not published.
    if not lesson_for_job(
        session=session, store=store, lesson_id=lesson_id, job_id=job.id, lock=True
    ):
        session.rollback()


@job_type(DELETE_LESSON_JOB)
def run_delete_lesson(session: Session, job: Job, progress: Progress) -> None:
    """Remove a deleted lesson's objects from storage, then its rows."""
    purge_lesson(session=session, store=get_store(), lesson_id=job.payload["lesson_id"])


@job_type(DELETE_COURSE_JOB)
def run_delete_course(session: Session, job: Job, progress: Progress) -> None:
    """Remove a deleted course's lessons, cover and rows."""
    purge_course(session=session, store=get_store(), course_id=job.payload["course_id"])
