"""Background jobs of the course library."""

from sqlalchemy.orm import Session

from core.db import session_scope
from core.jobs import Attempt, job_type
from core.jobs.models import Job
from core.settings import get_settings
from core.storage import get_store
from courseware.models import Lesson
from courseware.service import TRANSCODE_JOB, mark_lesson_failed, publish_lesson, transcode_lesson


def _lesson_failed(session: Session, job: Job, reason: str) -> None:
    mark_lesson_failed(session=session, lesson_id=job.payload["lesson_id"], reason=reason)


@job_type(
    TRANSCODE_JOB, timeout=get_settings().transcode_timeout_seconds, on_failure=_lesson_failed
)
def run_transcode(attempt: Attempt) -> None:
    """Transcode the job's lesson with no database session open while ffmpeg runs and uploads,
    then publish it in one short transaction, only if this attempt still owns the job."""
    settings = get_settings()
    lesson_id = attempt.payload["lesson_id"]
    with session_scope() as session:
        source_key = session.get_one(Lesson, lesson_id).source_key
    result = transcode_lesson(
        store=get_store(),
        lesson_id=lesson_id,
        source_key=source_key,
        workdir=settings.home / "work" / f"job-{attempt.job_id}",
        heights=settings.ladder_heights,
        on_progress=attempt.progress,
        cancel=attempt.stopping,
        timeout=attempt.time_left(),
    )
    with attempt.finish() as session:
        publish_lesson(session=session, lesson_id=lesson_id, result=result)
