"""Background work of the sync protocol: indexing a lesson's files ahead of the manifests, when
it is assigned and again after a new transcode."""

from datetime import timedelta

from core.db import session_scope
from core.jobs import Attempt, create_jobs, job_type, recurring
from core.storage import get_store
from courseware.models import Lesson
from terminals.sites.assignments import INDEX_LESSON_JOB
from terminals.sync.file_index import index_lesson, unindexed_lessons


@job_type(INDEX_LESSON_JOB)
def run_index_lesson(attempt: Attempt) -> None:
    """Compute size and SHA-256 of every file of every rendition of the job's lesson."""
    with session_scope() as session:
        lesson = session.get(Lesson, attempt.payload["lesson_id"])
        if lesson is not None and lesson.deleted_at is None:
            index_lesson(session=session, store=get_store(), lesson=lesson)
    with attempt.finish():
        pass


@recurring("sync.index_changed_lessons", every=timedelta(minutes=5))
def index_changed_lessons() -> int:
    """Ask for the index of assigned lessons transcoded again since they were indexed, so the
    next manifest reads digests instead of hashing inside an agent's request; jobs asked for."""
    with session_scope() as session:
        lesson_ids = unindexed_lessons(session=session)
        create_jobs(
            session=session,
            kind=INDEX_LESSON_JOB,
            payloads=[{"lesson_id": lesson_id} for lesson_id in lesson_ids],
        )
        return len(lesson_ids)
