"""Finding courses: the catalog's search and categories, scoped to what the reader may see."""

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from core.people.models import User
from courseware.models import Course, Lesson, LessonStatus
from courseware.permissions import visible_courses

# Longer search text is cut here: a search box is not a place for essays.
MAX_QUERY = 200


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own %, _ and \\ taken literally (escape \\)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(text: str) -> ColumnElement[bool]:
    """Courses whose title or description holds `text`, or one of whose watchable lessons' does.

    ILIKE is a case-insensitive LIKE on PostgreSQL and lower() LIKE lower() on SQLite; both find
    a Chinese substring ("党章" in "学习贯彻党章") since neither splits words.
    """
    pattern = like_pattern(text)
    lesson_matches = exists().where(
        Lesson.course_id == Course.id,
        Lesson.deleted_at.is_(None),
        Lesson.status == LessonStatus.ready,
        Lesson.title.ilike(pattern, escape="\\") | Lesson.description.ilike(pattern, escape="\\"),
    )
    return (
        Course.title.ilike(pattern, escape="\\")
        | Course.description.ilike(pattern, escape="\\")
        | lesson_matches
    )


def list_courses(
    *, session: Session, user: User | None, query: str = "", category: str = ""
) -> list[Course]:
    """Visible courses, newest first, matching a search of course and lesson titles and
    descriptions, and a category."""
    statement = select(Course).join(Course.org).where(visible_courses(user))
    text = query.replace("\x00", "").strip()[:MAX_QUERY]
    if text:
        statement = statement.where(_matches(text))
    if category:
        statement = statement.where(Course.category == category)
    return list(session.scalars(statement.order_by(Course.created_at.desc(), Course.id.desc())))


def list_categories(*, session: Session, user: User | None) -> list[str]:
    """Categories of the courses the user can see."""
    statement = (
        select(Course.category)
        .join(Course.org)
        .where(visible_courses(user), Course.category != "")
        .distinct()
        .order_by(Course.category)
    )
    return list(session.scalars(statement))
