"""HTML pages of the course library: catalog, course, lesson player, upload."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from core.api import CurrentUser, OptionalUser, RowId, SessionDep
from core.errors import NotFound, PermissionDenied
from core.i18n import N_
from core.people.models import User
from core.settings import get_settings
from courseware.catalog import list_categories, list_courses
from courseware.cover import cover_url
from courseware.fields import CATEGORY, COURSE_TITLE, DESCRIPTION, LESSON_TITLE
from courseware.models import CaptionLanguage, Lesson, LessonStatus
from courseware.permissions import can_edit_course, listed_lessons
from courseware.service import (
    editable_courses,
    get_course,
    get_lesson,
    lesson_states,
    lesson_summary,
    publishing_orgs,
    resume_position,
)

router = APIRouter(include_in_schema=False)


# The forms' maxlength attributes come from the same rules the server checks.
LIMITS = {
    "course_title": COURSE_TITLE.limit,
    "lesson_title": LESSON_TITLE.limit,
    "category": CATEGORY.limit,
    "description": DESCRIPTION.limit,
}


def _render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    context = {"limits": LIMITS, "cover_url": cover_url, **context}
    return request.app.state.templates.TemplateResponse(
        request, f"courseware/{template}", context, status_code=status
    )


@router.get("/")
def catalog(
    request: Request, session: SessionDep, user: OptionalUser, q: str = "", category: str = ""
) -> Response:
    """The course catalog with search and categories."""
    courses = list_courses(session=session, user=user, query=q, category=category)
    return _render(
        request,
        "catalog.html",
        {
            "user": user,
            "courses": courses,
            "categories": list_categories(session=session, user=user),
            "q": q,
            "category": category,
        },
    )


@router.get("/courses/{course_id}")
def course_page(
    request: Request, course_id: RowId, session: SessionDep, user: OptionalUser
) -> Response:
    """A course and the lessons the reader may watch; editors also edit, order, retry and delete
    here, and see every lesson."""
    course = get_course(session=session, user=user, course_id=course_id)
    editable = can_edit_course(user, course)
    lessons = listed_lessons(user, course)
    return _render(
        request,
        "course.html",
        {
            "user": user,
            "course": course,
            "lessons": lessons,
            "states": lesson_states(session=session, lessons=lessons),
            "editable": editable,
            "orgs": publishing_orgs(session=session, user=user) if editable and user else [],
        },
    )


@router.get("/lessons/{lesson_id}")
def lesson_page(
    request: Request, lesson_id: RowId, session: SessionDep, user: OptionalUser
) -> Response:
    """The player, with resume point, quality and speed controls, next lesson and attachments.

    A visitor who is not logged in and may not watch is offered a login that comes back here,
    whether the lesson exists or not, so the offer tells nothing of which ids exist; a logged-in
    user who may not watch gets the same "not found" as for a lesson that does not exist."""
    try:
        lesson = get_lesson(session=session, user=user, lesson_id=lesson_id)
    except NotFound:
        if user is not None:
            raise
        context = {"user": None, "next": request.url.path}
        return _render(request, "login_to_watch.html", context, status=401)
    return _render(
        request,
        "lesson.html",
        {
            "caption_languages": list(CaptionLanguage),
            "user": user,
            "lesson": lesson,
            "summary": lesson_summary(session=session, lesson=lesson),
            "resume": resume_position(session=session, user=user, lesson=lesson),
            "editable": can_edit_course(user, lesson.course),
            "next_lesson": _next_ready_lesson(user, lesson),
            "player_buffer_seconds": get_settings().player_buffer_seconds,
        },
    )


def _next_ready_lesson(user: User | None, lesson: Lesson) -> Lesson | None:
    """The first lesson after `lesson` in the course's order that the user may watch now (ready:
    editors see unfinished lessons listed, but the player's "next" skips them)."""
    lessons = listed_lessons(user, lesson.course)
    position = next((i for i, item in enumerate(lessons) if item.id == lesson.id), len(lessons))
    return next(
        (item for item in lessons[position + 1 :] if item.status is LessonStatus.ready), None
    )


@router.get("/upload")
def upload_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """Upload a lesson with a resumable (tus) upload and follow its processing."""
    orgs = publishing_orgs(session=session, user=user)
    if not orgs:
        raise PermissionDenied(N_("Only publishers and administrators can upload lessons."))
    return _render(
        request,
        "upload.html",
        {
            "user": user,
            "orgs": orgs,
            "courses": editable_courses(session=session, user=user),
            "max_upload_bytes": get_settings().max_upload_bytes,
        },
    )
