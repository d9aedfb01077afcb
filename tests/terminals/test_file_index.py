"""The lesson file index: assigning content asks for the job that computes every rendition's
digests ahead of any manifest, and a manifest then reads them without touching the store."""

import hashlib
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs.execution import execute_job
from core.jobs.models import Job, JobStatus
from core.people.models import Role
from core.storage import get_store
from courseware.models import Lesson
from terminals.sites.assignments import INDEX_LESSON_JOB, assign_content
from terminals.sync.file_index import lesson_files, lesson_stamp, unindexed_lessons
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


def test_a_lesson_transcoded_again_is_indexed_again_by_the_recurring_task(
    session: Session, tree: Tree
) -> None:
    import terminals.sync.tasks as tasks

    store = get_store()
    lesson = publish(session, store, make_course_of(session, tree), "第二课", segments=1)
    site = make_site(session, tree.branch, "500101001002")
    admin = make_user(session, "index-admin2", Role.org_admin, tree.district)
    assign_content(session=session, actor=admin, site_id=site.id, lesson_id=lesson.id)
    session.commit()
    (job,) = session.scalars(select(Job).where(Job.kind == INDEX_LESSON_JOB))
    assert unindexed_lessons(session=session) == []  # its job is waiting
    assert execute_job(job.id).status == JobStatus.done
    assert unindexed_lessons(session=session) == []  # indexed at this version

    lesson.ready_at = utcnow() + timedelta(seconds=1)  # a new transcode finished
    session.commit()
    assert unindexed_lessons(session=session) == [lesson.id]
    assert tasks.index_changed_lessons() == 1
    assert tasks.index_changed_lessons() == 0  # asked once: the job waits
    session.expire_all()
    (again,) = session.scalars(
        select(Job).where(Job.kind == INDEX_LESSON_JOB, Job.status == JobStatus.queued)
    )
    assert execute_job(again.id).status == JobStatus.done
    session.expire_all()
    stamps = set(session.scalars(select(LessonFile.stamp).where(LessonFile.lesson_id == lesson.id)))
    assert stamps == {lesson_stamp(session.get_one(Lesson, lesson.id))}
    assert unindexed_lessons(session=session) == []
