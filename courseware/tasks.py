"""Background jobs of the course library."""

from sqlalchemy.orm import Session

from core.jobs import Progress, job_type
from core.jobs.models import Job
from core.settings import get_settings
from core.storage import get_store
from courseware.models import Lesson
from courseware.service import TRANSCODE_JOB, mark_lesson_failed, transcode_lesson


def _lesson_failed(session: Session, job: Job, reason: str) -> None:
    mark_lesson_failed(session=session, lesson_id=job.payload["lesson_id"], reason=reason)


@job_type(TRANSCODE_JOB, on_failure=_lesson_failed)
def run_transcode(session: Session, job: Job, progress: Progress) -> None:
    """Transcode and publish the job's lesson."""
    settings = get_settings()
    transcode_lesson(
        session=session,
        store=get_store(),
        lesson=session.get_one(Lesson, job.payload["lesson_id"]),
        workdir=settings.home / "work" / f"job-{job.id}",
        heights=settings.ladder_heights,
        on_progress=progress,
    )
