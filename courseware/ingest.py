"""Turning a media file into a lesson, the one way the CLI, the demo and browser uploads all use.

Three steps, in this order:

1. the source is copied into the object store under a key of its own (`sources/{token}/{name}`,
   a fresh token per attempt) while no transaction is open, so a 4 GiB copy and its fsync never
   hold the database write lock (on SQLite that lock is the whole database's);
2. one short transaction creates the lesson and its transcode job;
3. the job is enqueued after the commit, so a worker never looks for a row not yet visible.

A failure in step 1 or 2 leaves no lesson and removes the copy; the caller still has its file and
may try again. A crash between the two leaves a copy no lesson points to: `sweep_unused_sources`
removes such copies once they are old enough that no ingest can still be about to commit them.
An upload id makes ingest idempotent: the lesson's `upload_id` is unique, so a retried or
concurrent completion of the same upload finds the lesson the first one made.
"""

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import session_scope, utcnow
from core.errors import PermissionDenied
from core.i18n import N_
from core.jobs import create_job, enqueue
from core.people.models import User
from core.storage import ObjectNotFound, ObjectStore
from courseware.fields import lesson_title
from courseware.models import Course, Lesson, LessonStatus
from courseware.permissions import can_edit_course
from courseware.service import TRANSCODE_JOB, safe_filename

log = logging.getLogger(__name__)

CoursePicker = Callable[[Session, User], Course]
"""Finds (or creates) the course a new lesson goes into, inside ingest's transaction."""


def ingest_lesson(
    *,
    store: ObjectStore,
    user_id: int,
    course: CoursePicker,
    title: str,
    source: Path,
    filename: str,
    upload_id: str | None = None,
    enqueue_job: bool = True,
) -> Lesson:
    """Store `source`, then create its lesson and transcode job, then queue the job; returns the
    lesson (detached). `enqueue_job=False` when the caller runs the job itself (`--wait`, demo).
    With an `upload_id`, the lesson an earlier completion of that upload made is returned."""
    if upload_id is not None and (done := lesson_for_upload(upload_id)) is not None:
        return done
    title = lesson_title(title, filename=filename)  # refused before anything is copied
    size = source.stat().st_size
    key = f"{SOURCES}{uuid.uuid4().hex}/{safe_filename(filename)}"
    store.put_file(key, source)
    try:
        with session_scope() as session:
            user = session.get_one(User, user_id)
            lesson = _create_lesson(
                session=session,
                user=user,
                course=course(session, user),
                title=title,
                source_key=key,
                source_size=size,
                upload_id=upload_id,
            )
    except IntegrityError:
        _forget(store, key)
        if upload_id is not None and (done := lesson_for_upload(upload_id)) is not None:
            return done  # a concurrent completion of the same upload won
        raise
    except BaseException:
        _forget(store, key)
        raise
    if enqueue_job:
        assert lesson.job_id is not None
        enqueue(lesson.job_id)
    return lesson


def lesson_for_upload(upload_id: str) -> Lesson | None:
    """The lesson a finished upload became, if any (detached)."""
    with session_scope() as session:
        return session.scalar(select(Lesson).where(Lesson.upload_id == upload_id))


def _create_lesson(
    *,
    session: Session,
    user: User,
    course: Course,
    title: str,
    source_key: str,
    source_size: int,
    upload_id: str | None,
) -> Lesson:
    if not can_edit_course(user, course):
        raise PermissionDenied(N_("You may not add lessons to this course."))
    position = session.scalar(
        select(func.coalesce(func.max(Lesson.position), 0)).where(Lesson.course_id == course.id)
    )
    lesson = Lesson(
        course=course,
        title=title,
        position=(position or 0) + 1,
        status=LessonStatus.processing,
        source_key=source_key,
        source_size=source_size,
        upload_id=upload_id,
        created_by=user.id,
    )
    session.add(lesson)
    session.flush()
    job = create_job(session=session, kind=TRANSCODE_JOB, payload={"lesson_id": lesson.id})
    lesson.job_id = job.id
    session.flush()
    return lesson


SOURCES = "sources/"


def sweep_unused_sources(*, store: ObjectStore, older_than: timedelta) -> int:
    """Remove source copies that no lesson points to and that are older than `older_than` (a
    crash between the copy and the commit); returns how many went. A deleted lesson still
    points to its source until its purge job removes both."""
    cutoff = utcnow() - older_than
    with session_scope() as session:
        used = set(
            session.scalars(select(Lesson.source_key).where(Lesson.source_key.startswith(SOURCES)))
        )
    removed = 0
    for key in list(store.list(SOURCES)):
        if key in used:
            continue
        try:
            stale = store.stat(key).modified < cutoff
        except ObjectNotFound:
            continue
        if stale:
            store.delete(key)
            removed += 1
    return removed


def _forget(store: ObjectStore, key: str) -> None:
    """Remove the copy of a source no lesson will point to (best effort: it is only garbage)."""
    try:
        store.delete(key)
    except Exception:
        log.warning("could not remove the unused source copy %s", key, exc_info=True)
