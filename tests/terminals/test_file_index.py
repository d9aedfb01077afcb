"""The lesson file index: assigning content asks for the job that computes every rendition's
digests ahead of any manifest, and a manifest then reads them without touching the store."""

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.jobs.execution import execute_job
from core.jobs.models import Job, JobStatus
from core.people.models import Role
from core.storage import get_store
from terminals.sites.assignments import INDEX_LESSON_JOB, assign_content
from terminals.sync.file_index import lesson_files
from terminals.sync.models import LessonFile
from tests.factories import Tree, make_user
from tests.terminals.sync_fixtures import make_course_of, make_site, publish


def test_assigning_a_lesson_digests_every_rendition(session: Session, tree: Tree) -> None:
    store = get_store()
    lesson = publish(session, store, make_course_of(session, tree), "第一课", segments=2)
    site = make_site(session, tree.branch, "500101001001")
    admin = make_user(session, "index-admin", Role.org_admin, tree.district)
    assign_content(session=session, actor=admin, site_id=site.id, course_id=lesson.course_id)
    session.commit()
    (job,) = session.scalars(select(Job).where(Job.kind == INDEX_LESSON_JOB))
    assert job.payload == {"lesson_id": lesson.id}
    assert execute_job(job.id).status == JobStatus.done
    rows = {row.key: row for row in session.scalars(select(LessonFile))}
    assert len(rows) == 2 * 4 + 1  # two renditions of playlist, init, 2 segments; the poster
    for key, row in rows.items():
        data = store.get_bytes(key)
        assert (row.size, row.sha256) == (len(data), hashlib.sha256(data).hexdigest())

    # The manifest's files now come from the index: the store's bytes are not read again.
    store.put_bytes(f"lessons/{lesson.id}/hls/360p/seg_00001.m4s", b"changed behind its back")
    files = lesson_files(
        session=session, store=store, lesson=lesson, rendition=lesson.renditions[1]
    )
    segment = next(f for f in files if f.key.endswith("360p/seg_00001.m4s"))
    assert segment.sha256 == rows[segment.key].sha256
