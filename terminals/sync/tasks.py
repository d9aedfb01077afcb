"""Background work of the sync protocol: indexing a lesson's files ahead of the manifests."""

from core.db import session_scope
from core.jobs import Attempt, job_type
from core.storage import get_store
from courseware.models import Lesson
from terminals.sites.assignments import INDEX_LESSON_JOB
from terminals.sync.file_index import index_lesson


@job_type(INDEX_LESSON_JOB)
def run_index_lesson(attempt: Attempt) -> None:
    """Compute size and SHA-256 of every file of every rendition of the job's lesson."""
    with session_scope() as session:
        lesson = session.get(Lesson, attempt.payload["lesson_id"])
        if lesson is not None and lesson.deleted_at is None:
            index_lesson(session=session, store=get_store(), lesson=lesson)
    with attempt.finish():
        pass
