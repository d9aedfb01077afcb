"""The size and SHA-256 of every file a site downloads for a lesson, computed once and kept.

A rendition's files are its directory under `lessons/{id}/hls/{name}/` (playlist, init section,
segments); the lesson's captions and poster go with every rendition. Digests are computed on
first need (a manifest, or the `terminals.index_lesson` job, asked for when content is assigned
and, every few minutes, for assigned lessons transcoded again since) and kept in `lesson_files`
with a stamp of the lesson version they belong to: a new transcode (a new `ready_at`) or a
replaced caption makes them stale, and they are computed again.
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.jobs.models import Job, JobStatus
from core.storage import ObjectStore
from courseware.models import Lesson, LessonCaption
from terminals.sites.assignments import INDEX_LESSON_JOB, ready_lessons
from terminals.sites.models import SiteAssignment
from terminals.sync.models import LessonFile


@dataclass(frozen=True)
class IndexedFile:
    """One file of a lesson as a site downloads it."""

    key: str
    size: int
    sha256: str


def rendition_name(rendition: dict[str, Any]) -> str:
    """The directory a rendition's files live in (`360p`)."""
    return str(rendition.get("name") or f"{rendition['height']}p")


def lesson_stamp(lesson: Lesson) -> str:
    """The version of a lesson's media: it changes when the lesson is transcoded again."""
    return f"lesson:{lesson.ready_at.isoformat() if lesson.ready_at else ''}"


def caption_stamp(caption: LessonCaption) -> str:
    """The version of one caption file: it changes when the caption is replaced."""
    return f"caption:{caption.created_at.isoformat()}:{caption.size}"


def digest_object(store: ObjectStore, key: str) -> IndexedFile:
    """Read an object once, streaming, for its size and SHA-256."""
    digest, size = hashlib.sha256(), 0
    for chunk in store.open_range(key):
        digest.update(chunk)
        size += len(chunk)
    return IndexedFile(key, size, digest.hexdigest())


def _known(session: Session, lesson_id: int, keys: list[str], stamp: str) -> dict[str, IndexedFile]:
    rows = session.scalars(
        select(LessonFile).where(LessonFile.lesson_id == lesson_id, LessonFile.key.in_(keys))
    )
    return {r.key: IndexedFile(r.key, r.size, r.sha256) for r in rows if r.stamp == stamp}


def _keep(session: Session, lesson_id: int, files: list[IndexedFile], stamp: str) -> None:
    """Store fresh digests in place of stale ones; a concurrent indexer's equal rows win."""
    if not files:
        return
    try:
        with session.begin_nested():
            session.execute(delete(LessonFile).where(LessonFile.key.in_([f.key for f in files])))
            session.add_all(
                LessonFile(
                    lesson_id=lesson_id, key=f.key, size=f.size, sha256=f.sha256, stamp=stamp
                )
                for f in files
            )
    except IntegrityError:
        pass  # another request indexed the same files at the same moment: theirs are as good


def _index(
    session: Session, store: ObjectStore, lesson_id: int, keys: list[str], stamp: str
) -> list[IndexedFile]:
    known = _known(session, lesson_id, keys, stamp)
    fresh = [digest_object(store, key) for key in keys if key not in known]
    _keep(session, lesson_id, fresh, stamp)
    found = {**known, **{f.key: f for f in fresh}}
    return [found[key] for key in keys]


def rendition_files(
    *, session: Session, store: ObjectStore, lesson: Lesson, rendition: dict[str, Any]
) -> list[IndexedFile]:
    """Every file of `rendition` with size and SHA-256, from the index when it is fresh; the
    store is listed only when the index holds nothing fresh for the rendition."""
    prefix = f"lessons/{lesson.id}/hls/{rendition_name(rendition)}/"
    stamp = lesson_stamp(lesson)
    rows = session.scalars(
        select(LessonFile)
        .where(LessonFile.lesson_id == lesson.id, LessonFile.key.startswith(prefix))
        .order_by(LessonFile.key)
    ).all()
    if rows and all(row.stamp == stamp for row in rows):
        return [IndexedFile(r.key, r.size, r.sha256) for r in rows]
    keys = sorted(store.list(prefix))
    session.execute(
        delete(LessonFile).where(
            LessonFile.lesson_id == lesson.id,
            LessonFile.key.startswith(prefix),
            LessonFile.key.not_in(keys),
        )
    )
    return _index(session, store, lesson.id, keys, stamp)


def extra_files(*, session: Session, store: ObjectStore, lesson: Lesson) -> list[IndexedFile]:
    """The files that go with every rendition of a lesson: its captions and its poster."""
    found: list[IndexedFile] = []
    if lesson.poster_key:
        found += _index(session, store, lesson.id, [lesson.poster_key], lesson_stamp(lesson))
    captions = session.scalars(
        select(LessonCaption)
        .where(LessonCaption.lesson_id == lesson.id)
        .order_by(LessonCaption.language)
    )
    for caption in captions:
        found += _index(session, store, lesson.id, [caption.key], caption_stamp(caption))
    return found


def lesson_files(
    *, session: Session, store: ObjectStore, lesson: Lesson, rendition: dict[str, Any]
) -> list[IndexedFile]:
    """All a site downloads for `lesson` in `rendition`."""
    return rendition_files(
        session=session, store=store, lesson=lesson, rendition=rendition
    ) + extra_files(session=session, store=store, lesson=lesson)


def index_lesson(*, session: Session, store: ObjectStore, lesson: Lesson) -> int:
    """Compute the digests of every rendition of a lesson ahead of any manifest; the number of
    files indexed."""
    count = len(extra_files(session=session, store=store, lesson=lesson))
    for rendition in lesson.renditions:
        count += len(
            rendition_files(session=session, store=store, lesson=lesson, rendition=rendition)
        )
    return count


def unindexed_lessons(*, session: Session) -> list[int]:
    """Ready lessons that a live assignment reaches whose renditions are not indexed at their
    current version (never, or before a new transcode), and that no index job waits for."""
    live = SiteAssignment.removed_at.is_(None)
    lessons = session.scalars(
        ready_lessons().where(
            or_(
                Lesson.id.in_(select(SiteAssignment.lesson_id).where(live)),
                Lesson.course_id.in_(select(SiteAssignment.course_id).where(live)),
            )
        )
    ).all()
    stamps: dict[int, set[str]] = defaultdict(set)
    for lesson_id, stamp in session.execute(
        select(LessonFile.lesson_id, LessonFile.stamp)
        .where(LessonFile.lesson_id.in_([lesson.id for lesson in lessons]))
        .where(LessonFile.key.contains("/hls/"))
        .distinct()
    ):
        stamps[lesson_id].add(stamp)
    waiting = {
        job.payload.get("lesson_id")
        for job in session.scalars(
            select(Job).where(
                Job.kind == INDEX_LESSON_JOB, Job.status.in_([JobStatus.queued, JobStatus.running])
            )
        )
    }
    return [
        lesson.id
        for lesson in lessons
        if lesson.renditions
        and stamps[lesson.id] != {lesson_stamp(lesson)}
        and lesson.id not in waiting
    ]
