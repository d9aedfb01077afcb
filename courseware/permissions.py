"""Who may see and edit courses: public ones to all, others within the owner's part of the tree.

A deleted course or lesson is seen by nobody, editors included, from the moment it is deleted.
"""

from sqlalchemy import ColumnElement, and_, false, literal, or_

from core.people.models import Organisation, User
from core.people.permissions import can_publish_in, is_platform_admin, related_paths
from courseware.models import Course, Lesson, LessonStatus, Visibility


def _paths_related(course_path: str, user_paths: list[str]) -> bool:
    return any(course_path.startswith(p) or p.startswith(course_path) for p in user_paths)


def can_view_course(user: User | None, course: Course) -> bool:
    """Public courses are open to all; an org course to people above or below its owner."""
    if course.deleted_at is not None:
        return False
    if course.visibility is Visibility.public or is_platform_admin(user):
        return True
    return user is not None and user.active and _paths_related(course.org.path, related_paths(user))


def can_edit_course(user: User | None, course: Course) -> bool:
    """Publishers and admins of the owning organisation or any organisation above it."""
    return course.deleted_at is None and can_publish_in(user, course.org)


def can_view_lesson(user: User | None, lesson: Lesson) -> bool:
    """A ready lesson of a visible course; unfinished or failed ones only to its editors."""
    if lesson.deleted_at is not None:
        return False
    if lesson.status is LessonStatus.ready:
        return can_view_course(user, lesson.course)
    return can_edit_course(user, lesson.course)


def listed_lessons(user: User | None, course: Course) -> list[Lesson]:
    """The lessons of a course the user is shown: all of them to its editors (processing and
    failed ones too), only the ready ones, which they may watch, to everyone else."""
    if can_edit_course(user, course):
        return list(course.lessons)
    return [lesson for lesson in course.lessons if can_view_lesson(user, lesson)]


def visible_courses(user: User | None) -> ColumnElement[bool]:
    """A WHERE clause (joined with the course's Organisation) matching `can_view_course`."""
    if is_platform_admin(user):
        return Course.deleted_at.is_(None)
    clauses: list[ColumnElement[bool]] = [Course.visibility == Visibility.public]
    if user is not None and user.active:
        for path in related_paths(user):
            clauses.append(Organisation.path.startswith(path))
            clauses.append(literal(path).startswith(Organisation.path))
    return and_(Course.deleted_at.is_(None), or_(false(), *clauses))
