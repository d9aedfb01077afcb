"""Rules and queries of the course library: courses, lessons, ingest, publishing, resume points."""

import shutil
import threading
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path, PurePath
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, lazyload

from core.audit.service import record
from core.db import upsert, utcnow
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.i18n import N_
from core.jobs import Progress
from core.jobs.models import Job, JobStatus
from core.people.models import Organisation, User
from core.people.permissions import can_publish_in
from core.people.service import get_org
from core.storage import ObjectStore
from courseware.captions import caption_url
from courseware.errors import UploadTooLarge
from courseware.fields import (
    CATEGORY,
    COURSE_TITLE,
    DESCRIPTION,
    FILE_NAME,
    LESSON_TITLE,
    lesson_title,
)
from courseware.models import (
    Attachment,
    CaptionLanguage,
    Course,
    Lesson,
    LessonCaption,
    LessonStatus,
    PlaybackPosition,
    Visibility,
)
from courseware.permissions import can_edit_course, can_view_lesson, visible_courses
from courseware.transcode.runner import TranscodeResult, transcode

TRANSCODE_JOB = "courseware.transcode_lesson"
MINUTES_PER_CREDIT_HOUR = 45


def credit_hours_for(duration_seconds: float) -> float:
    """Default credit: 1 学时 per 45 minutes of lesson, rounded to the nearest half."""
    halves = Decimal(duration_seconds / 60 / MINUTES_PER_CREDIT_HOUR * 2)
    return float(halves.quantize(Decimal(1), rounding=ROUND_HALF_UP)) / 2


def check_upload_size(size: int | None, *, limit: int) -> None:
    """Refuse an upload over the configured limit before a byte of it is stored."""
    if size is not None and size > limit:
        raise UploadTooLarge(
            N_("The file of %(size)s MB is larger than the %(limit)s MB limit."),
            size=f"{size / 1024**2:.1f}",
            limit=f"{limit / 1024**2:.0f}",
        )


def safe_filename(name: str) -> str:
    """The last path component of a client-given file name, without characters unsafe in keys."""
    base = PurePath(name.replace("\\", "/")).name.strip()
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in base).lstrip(".")
    return cleaned[:120] or "upload"


def create_course(
    *,
    session: Session,
    user: User,
    title: str,
    org_id: int,
    description: str = "",
    category: str = "",
    visibility: Visibility = Visibility.org,
) -> Course:
    """Add a course owned by `org_id`; the user must publish there."""
    org = get_org(session=session, org_id=org_id)
    if not can_publish_in(user, org):
        raise PermissionDenied(N_("You may not publish for this organisation."))
    course = Course(
        title=COURSE_TITLE.check(title),
        description=DESCRIPTION.check(description),
        category=CATEGORY.check(category),
        org=org,
        visibility=visibility,
        created_by=user.id,
    )
    session.add(course)
    session.flush()
    return course


def find_or_create_course(*, session: Session, user: User, title: str, org_id: int) -> Course:
    """The course of this title owned by `org_id` itself, or a new one there: a course of the
    same name in another organisation, even one the user edits, is never picked."""
    title = COURSE_TITLE.check(title)
    course = session.scalar(
        select(Course)
        .where(Course.org_id == org_id, Course.title == title, Course.deleted_at.is_(None))
        .order_by(Course.id)
        .limit(1)
    )
    if course is None:
        return create_course(session=session, user=user, title=title, org_id=org_id)
    if not can_edit_course(user, course):
        raise PermissionDenied(N_("You may not add lessons to this course."))
    return course


def check_upload_target(
    *,
    session: Session,
    user: User,
    course_id: int | None,
    course_title: str,
    org_id: int | None,
    title: str = "",
    filename: str = "",
) -> None:
    """Refuse an upload early unless its lesson title and file name are fine and it names a
    course the user edits, or a new course title and an organisation the user publishes for."""
    lesson_title(title, filename=FILE_NAME.check(filename))
    if course_id is not None:
        course = get_course(session=session, user=user, course_id=course_id)
        if not can_edit_course(user, course):
            raise PermissionDenied(N_("You may not add lessons to this course."))
        return
    if not course_title.strip() or org_id is None:
        raise InvalidInput(N_("Choose a course or name a new one."))
    COURSE_TITLE.check(course_title)
    if not can_publish_in(user, get_org(session=session, org_id=org_id)):
        raise PermissionDenied(N_("You may not publish for this organisation."))


def get_course(*, session: Session, user: User | None, course_id: int) -> Course:
    """A course the user may see, or NotFound (invisible courses look absent)."""
    course = session.scalar(
        select(Course).join(Course.org).where(Course.id == course_id, visible_courses(user))
    )
    if course is None:
        raise NotFound(N_("Course %(id)s not found."), id=course_id)
    return course


def editable_courses(*, session: Session, user: User) -> list[Course]:
    """Courses the user may add lessons to (for the upload form)."""
    courses = session.scalars(
        select(Course).join(Course.org).where(Course.deleted_at.is_(None)).order_by(Course.title)
    )
    return [c for c in courses if can_edit_course(user, c)]


def publishing_orgs(*, session: Session, user: User) -> list[Organisation]:
    """Organisations the user may publish for (for the upload form)."""
    orgs = session.scalars(select(Organisation).order_by(Organisation.path))
    return [org for org in orgs if can_publish_in(user, org)]


def get_lesson(*, session: Session, user: User | None, lesson_id: int) -> Lesson:
    """A lesson the user may see, or NotFound."""
    lesson = session.get(
        Lesson,
        lesson_id,
        # Media routes run this for every playlist: load the course and its org in one query,
        # and the course's other lessons and the attachments only if a page asks for them.
        options=[joinedload(Lesson.course).lazyload(Course.lessons), lazyload(Lesson.attachments)],
    )
    if lesson is None or not can_view_lesson(user, lesson):
        raise NotFound(N_("Lesson %(id)s not found."), id=lesson_id)
    return lesson


def lesson_state(lesson: Lesson, job: Job | None) -> str:
    """What a person is told of a lesson: queued, transcoding, ready (published) or failed."""
    if lesson.status is not LessonStatus.processing:
        return lesson.status.value
    return "transcoding" if job is not None and job.status is JobStatus.running else "queued"


def lesson_states(*, session: Session, lessons: list[Lesson]) -> dict[int, str]:
    """`lesson_state` of several lessons, with their jobs read in one query."""
    job_ids = [lesson.job_id for lesson in lessons if lesson.job_id is not None]
    jobs = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(job_ids)))}
    return {lesson.id: lesson_state(lesson, jobs.get(lesson.job_id or 0)) for lesson in lessons}


def lesson_summary(*, session: Session, lesson: Lesson) -> dict[str, Any]:
    """The lesson as `lessons show --json` and `GET /api/lessons/{id}` give it."""
    job = session.get(Job, lesson.job_id) if lesson.job_id is not None else None
    return {
        "id": lesson.id,
        "course_id": lesson.course_id,
        "title": lesson.title,
        "description": lesson.description,
        "status": lesson.status.value,
        "state": lesson_state(lesson, job),
        "error": lesson.error,
        "progress": 1.0 if lesson.status is LessonStatus.ready else (job.progress if job else 0.0),
        "duration": lesson.duration,
        "credit_hours": lesson.credit_hours,
        "renditions": [
            {"height": r["height"], "bandwidth": r["bandwidth"]} for r in lesson.renditions
        ],
        "master": lesson.master_key,
        "captions": lesson_captions(session=session, lesson=lesson),
    }


def lesson_captions(*, session: Session, lesson: Lesson) -> list[dict[str, Any]]:
    """The lesson's caption tracks, Chinese first, each with the URL a player or a terminal
    site's sync fetches it from."""
    order = list(CaptionLanguage)
    captions = sorted(
        session.scalars(select(LessonCaption).where(LessonCaption.lesson_id == lesson.id)),
        key=lambda caption: order.index(caption.language),
    )
    return [caption_summary(caption) for caption in captions]


def caption_summary(caption: LessonCaption) -> dict[str, Any]:
    """One caption track as the lesson's JSON lists it."""
    return {
        "language": caption.language.value,
        "label": caption.label,
        "url": caption_url(caption.lesson_id, caption.language),
        "cues": caption.cues,
        "size": caption.size,
    }


def transcode_lesson(
    *,
    store: ObjectStore,
    lesson_id: int,
    source_key: str,
    workdir: Path,
    heights: tuple[int, ...],
    on_progress: Progress,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> TranscodeResult:
    """Transcode a lesson's source to the HLS ladder and upload it, master playlist last, with no
    database session open (`publish_lesson` then records the result in a short transaction).

    A retried attempt starts from nothing: the work directory and any HLS objects a killed attempt
    left are removed first, so a half-published tree is never visible. `on_progress` may raise to
    stop the work (ffmpeg is killed); setting `cancel` kills ffmpeg at once.
    """
    shutil.rmtree(workdir, ignore_errors=True)
    source = workdir / "source" / PurePath(source_key).name
    out_dir = workdir / "hls"
    prefix = f"lessons/{lesson_id}"
    source.parent.mkdir(parents=True)
    try:
        store.download(source_key, source)
        store.delete_prefix(f"{prefix}/hls/")
        result = transcode(
            source=source,
            out_dir=out_dir,
            on_progress=lambda fraction: on_progress(fraction * 0.95),
            heights=heights,
            timeout=timeout,
            cancel=cancel,
        )
        uploads = [(f"{prefix}/hls/{path.as_posix()}", out_dir / path) for path in result.files]
        if result.poster is not None:
            uploads.insert(0, (f"{prefix}/poster.jpg", result.poster))
        for done, (key, path) in enumerate(uploads):
            on_progress(0.95 + 0.05 * done / len(uploads))
            store.put_file(key, path)
        on_progress(1.0)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def publish_lesson(*, session: Session, lesson_id: int, result: TranscodeResult) -> Lesson:
    """Mark a transcoded lesson ready, with the renditions its master playlist states; credit
    hours set by hand are kept, even when set while the transcode ran (the row is locked here)."""
    lesson = session.get_one(
        Lesson,
        lesson_id,
        options=[lazyload(Lesson.course)],
        with_for_update=True,
        populate_existing=True,
    )
    prefix = f"lessons/{lesson.id}"
    lesson.duration = result.info.duration
    lesson.renditions = [
        {
            "name": rung.name,
            "height": rung.height,
            "width": rung.width,
            "bandwidth": result.bandwidths[rung.name],
        }
        for rung in result.rungs
    ]
    if not lesson.credit_hours_set_by_hand:
        lesson.credit_hours = credit_hours_for(result.info.duration)
    lesson.master_key = f"{prefix}/hls/master.m3u8"
    lesson.poster_key = f"{prefix}/poster.jpg" if result.poster is not None else None
    lesson.status, lesson.error, lesson.ready_at = LessonStatus.ready, None, utcnow()
    session.flush()
    return lesson


def add_recorded_lesson(
    *,
    session: Session,
    course_id: int,
    title: str,
    description: str,
    created_by: int | None,
    duration: float,
    rendition: dict[str, Any],
    credit_hours: float | None = None,
    credit_key: str | None = None,
) -> Lesson:
    """A lesson made from a live event's recording, ready at once: its HLS (one rendition,
    already under ``lessons/<id>/hls/``) needs no transcode. It earns ``credit_hours`` under
    ``credit_key`` (the event's), else hours by its length. The caller checked, when the event
    was scheduled, that its organiser may add lessons to the course."""
    position = session.scalar(
        select(func.coalesce(func.max(Lesson.position), 0)).where(Lesson.course_id == course_id)
    )
    lesson = Lesson(
        course_id=course_id,
        title=title,
        description=description,
        position=(position or 0) + 1,
        status=LessonStatus.ready,
        source_key="",
        created_by=created_by,
        duration=duration,
        renditions=[rendition],
        credit_hours=credit_hours if credit_hours is not None else credit_hours_for(duration),
        credit_hours_set_by_hand=credit_hours is not None,
        credit_key=credit_key,
        ready_at=utcnow(),
    )
    session.add(lesson)
    session.flush()
    lesson.master_key = f"lessons/{lesson.id}/hls/master.m3u8"
    lesson.source_key = lesson.master_key
    return lesson


def mark_lesson_failed(*, session: Session, lesson_id: int, reason: str) -> None:
    """Show a failed transcode on the lesson; its source stays stored for another try."""
    lesson = session.get(Lesson, lesson_id)
    if lesson is not None:
        lesson.status, lesson.error = LessonStatus.failed, reason


def update_lesson(
    *,
    session: Session,
    user: User,
    lesson: Lesson,
    title: str | None = None,
    description: str | None = None,
    credit_hours: float | None = None,
) -> Lesson:
    """Rename or describe a lesson, or set its credit hours by hand (in steps of 0.5)."""
    if not can_edit_course(user, lesson.course):
        raise PermissionDenied(N_("You may not edit this lesson."))
    changed: dict[str, Any] = {}
    if title is not None and (title := LESSON_TITLE.check(title)) != lesson.title:
        lesson.title = changed["title"] = title
    if description is not None and (text := DESCRIPTION.check(description)) != lesson.description:
        lesson.description = text
        changed["description"] = True
    if credit_hours is not None:
        if credit_hours < 0 or credit_hours > 100 or (credit_hours * 2) % 1:
            raise InvalidInput(N_("Credit hours go from 0 to 100 in steps of 0.5."))
        if credit_hours != lesson.credit_hours or not lesson.credit_hours_set_by_hand:
            changed["credit_hours"] = credit_hours
        lesson.credit_hours, lesson.credit_hours_set_by_hand = credit_hours, True
    session.flush()
    if changed:
        record(
            session=session,
            action="lesson_updated",
            actor=user,
            target_type="lesson",
            target_id=lesson.id,
            org_id=lesson.course.org_id,
            detail=changed,
        )
    return lesson


def add_attachment(
    *, session: Session, store: ObjectStore, user: User, lesson: Lesson, name: str, source: Path
) -> Attachment:
    """Attach a file (slides, 课件) to a lesson, replacing one of the same name."""
    if not can_edit_course(user, lesson.course):
        raise PermissionDenied(N_("You may not edit this lesson."))
    name = FILE_NAME.check(safe_filename(name))
    key = f"lessons/{lesson.id}/attachments/{name}"
    store.put_file(key, source)
    attachment = session.scalar(
        select(Attachment).where(Attachment.lesson_id == lesson.id, Attachment.name == name)
    )
    if attachment is None:
        attachment = Attachment(lesson=lesson, name=name, key=key)
        session.add(attachment)
    attachment.size = source.stat().st_size
    session.flush()
    return attachment


def save_position(*, session: Session, user: User, lesson: Lesson, seconds: float) -> None:
    """Remember where the user is in a lesson (clamped to its duration): one idempotent upsert,
    so parallel first saves (two tabs, a retried request) never race on the unique index."""
    limit = lesson.duration or 0.0
    seconds = min(max(seconds, 0.0), limit)
    statement = upsert(session, PlaybackPosition).values(
        user_id=user.id, lesson_id=lesson.id, seconds=seconds, updated_at=utcnow()
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[PlaybackPosition.user_id, PlaybackPosition.lesson_id],
            set_={
                "seconds": statement.excluded.seconds,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )


def resume_position(*, session: Session, user: User | None, lesson: Lesson) -> float:
    """Where to start playing: the saved position, or 0 if none or if the lesson was finished."""
    if user is None:
        return 0.0
    seconds = session.scalar(
        select(PlaybackPosition.seconds).where(
            PlaybackPosition.user_id == user.id, PlaybackPosition.lesson_id == lesson.id
        )
    )
    if seconds is None or (lesson.duration and seconds > lesson.duration - 5):
        return 0.0
    return float(seconds)
