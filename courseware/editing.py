"""What editors do to existing courses and lessons: metadata, cover, lesson order, retries,
captions.

Every change is checked against the editor's rights and recorded in the audit log in the same
transaction.
"""

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.i18n import N_
from core.jobs import create_job
from core.jobs.models import Job
from core.people.models import User
from core.people.permissions import can_publish_in
from core.people.service import get_org
from core.storage import ObjectStore
from courseware.captions import CONTENT_TYPE, caption_key, convert_captions
from courseware.cover import EXTENSIONS, read_cover
from courseware.fields import CATEGORY, COURSE_TITLE, DESCRIPTION
from courseware.models import (
    CaptionLanguage,
    Course,
    Lesson,
    LessonCaption,
    LessonStatus,
    Visibility,
)
from courseware.permissions import can_edit_course
from courseware.service import TRANSCODE_JOB


def _audit(
    session: Session, user: User, action: str, target: Course | Lesson, detail: dict[str, Any]
) -> None:
    course = target if isinstance(target, Course) else target.course
    record(
        session=session,
        action=action,
        actor=user,
        target_type="course" if isinstance(target, Course) else "lesson",
        target_id=target.id,
        org_id=course.org_id,
        detail=detail,
    )


def update_course(
    *,
    session: Session,
    user: User,
    course: Course,
    title: str | None = None,
    description: str | None = None,
    category: str | None = None,
    visibility: Visibility | None = None,
    org_id: int | None = None,
) -> Course:
    """Change a course's metadata and who it is published to: everyone (public) or the subtree
    of its organisation, which the editor may move to any organisation they publish for."""
    if not can_edit_course(user, course):
        raise PermissionDenied(N_("You may not edit this course."))
    changed: dict[str, Any] = {}
    if title is not None and (title := COURSE_TITLE.check(title)) != course.title:
        course.title = changed["title"] = title
    if description is not None and (text := DESCRIPTION.check(description)) != course.description:
        course.description = text
        changed["description"] = True
    if category is not None and (category := CATEGORY.check(category)) != course.category:
        course.category = changed["category"] = category
    if org_id is not None and org_id != course.org_id:
        org = get_org(session=session, org_id=org_id)
        if not can_publish_in(user, org):
            raise PermissionDenied(N_("You may not publish for this organisation."))
        changed["org_id"] = [course.org_id, org.id]
        course.org = org
    published = visibility is Visibility.public and course.visibility is not Visibility.public
    if visibility is not None and visibility is not course.visibility:
        course.visibility = changed["visibility"] = visibility
    if not changed:
        return course
    session.flush()
    _audit(session, user, "course_updated", course, changed)
    if published:
        _audit(session, user, "course_published", course, {"visibility": Visibility.public})
    return course


def set_cover(
    *, session: Session, store: ObjectStore, user: User, course: Course, data: bytes
) -> Course:
    """Store a JPEG, PNG or WebP picture as the course's cover, replacing any earlier one."""
    if not can_edit_course(user, course):
        raise PermissionDenied(N_("You may not edit this course."))
    picture = read_cover(data)
    key = f"courses/{course.id}/cover.{picture.extension}"
    store.put_bytes(key, data, content_type=picture.content_type)
    for extension in EXTENSIONS:
        if extension != picture.extension:
            store.delete(f"courses/{course.id}/cover.{extension}")
    course.cover_key = key
    session.flush()
    _audit(session, user, "course_updated", course, {"cover": key})
    return course


def remove_cover(*, session: Session, store: ObjectStore, user: User, course: Course) -> Course:
    """Take the cover off a course (its card shows the first lesson's poster again)."""
    if not can_edit_course(user, course):
        raise PermissionDenied(N_("You may not edit this course."))
    if course.cover_key is not None:
        store.delete(course.cover_key)
        course.cover_key = None
        session.flush()
        _audit(session, user, "course_updated", course, {"cover": None})
    return course


def reorder_lessons(
    *, session: Session, user: User, course: Course, lesson_ids: list[int]
) -> list[Lesson]:
    """Put the course's lessons in the given order: every lesson exactly once, positions 1..n."""
    if not can_edit_course(user, course):
        raise PermissionDenied(N_("You may not edit this course."))
    lessons = {
        lesson.id: lesson
        for lesson in session.scalars(
            select(Lesson)
            .where(Lesson.course_id == course.id, Lesson.deleted_at.is_(None))
            .with_for_update(of=Lesson)
        )
    }
    if len(lesson_ids) != len(lessons) or set(lesson_ids) != set(lessons):
        raise InvalidInput(N_("The new order must list every lesson of the course exactly once."))
    for position, lesson_id in enumerate(lesson_ids, start=1):
        lessons[lesson_id].position = position
    session.flush()
    _audit(session, user, "course_updated", course, {"lesson_order": lesson_ids})
    return [lessons[lesson_id] for lesson_id in lesson_ids]


def retry_lesson(*, session: Session, store: ObjectStore, user: User, lesson: Lesson) -> Job:
    """Transcode a failed lesson again from its stored source, as a new job (to enqueue after
    commit); the failed job stays as it was, with its error, as the record of that attempt."""
    if not can_edit_course(user, lesson.course):
        raise PermissionDenied(N_("You may not edit this lesson."))
    if lesson.status is not LessonStatus.failed:
        raise InvalidInput(N_("Only a lesson whose processing failed can be tried again."))
    if not lesson.source_key or not store.exists(lesson.source_key):
        raise InvalidInput(N_("The lesson's source file is no longer stored: upload it again."))
    # Two editors pressing "retry" at once: one of them changes the row, the other is told.
    taken = session.execute(
        update(Lesson)
        .where(Lesson.id == lesson.id, Lesson.status == LessonStatus.failed)
        .values(status=LessonStatus.processing, error=None)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        raise InvalidInput(N_("Only a lesson whose processing failed can be tried again."))
    job = create_job(session=session, kind=TRANSCODE_JOB, payload={"lesson_id": lesson.id})
    lesson.job_id = job.id
    session.flush()
    _audit(session, user, "lesson_retried", lesson, {"job_id": job.id})
    return job


def set_captions(
    *,
    session: Session,
    store: ObjectStore,
    user: User,
    lesson: Lesson,
    language: CaptionLanguage,
    data: bytes,
) -> LessonCaption:
    """Check a caption file (SRT or WebVTT) against the lesson, store it as WebVTT beside the
    lesson's HLS and list it with the lesson, replacing its earlier captions in `language`."""
    if not can_edit_course(user, lesson.course):
        raise PermissionDenied(N_("You may not edit this lesson."))
    if lesson.status is not LessonStatus.ready or lesson.duration is None:
        raise InvalidInput(N_("Captions can be added once the lesson has been processed."))
    body, cues = convert_captions(data, duration=lesson.duration)
    key = caption_key(lesson.id, language)
    store.put_bytes(key, body, content_type=CONTENT_TYPE)
    caption = session.scalar(
        select(LessonCaption).where(
            LessonCaption.lesson_id == lesson.id, LessonCaption.language == language
        )
    )
    if caption is None:
        caption = LessonCaption(lesson_id=lesson.id, language=language)
        session.add(caption)
    caption.label, caption.key, caption.size, caption.cues = language.label, key, len(body), cues
    caption.created_by, caption.created_at = user.id, utcnow()
    session.flush()
    _audit(session, user, "lesson_updated", lesson, {"captions": language.value, "cues": cues})
    return caption


def remove_captions(
    *, session: Session, store: ObjectStore, user: User, lesson: Lesson, language: CaptionLanguage
) -> None:
    """Take the lesson's captions in `language` off it and out of storage."""
    if not can_edit_course(user, lesson.course):
        raise PermissionDenied(N_("You may not edit this lesson."))
    caption = session.scalar(
        select(LessonCaption).where(
            LessonCaption.lesson_id == lesson.id, LessonCaption.language == language
        )
    )
    if caption is None:
        raise NotFound(N_("The lesson has no captions in this language."))
    store.delete(caption.key)
    session.delete(caption)
    session.flush()
    _audit(session, user, "lesson_updated", lesson, {"captions_removed": language.value})
