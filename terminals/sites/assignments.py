"""What reaches a site: the assignments aimed at it, at an org above it, or at its tier, and the
lessons they add up to, each in the rendition the site's tier downloads."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core.settings import get_settings
from courseware.models import Course, Lesson, LessonStatus
from terminals.sites.models import AssignmentTarget, Site, SiteAssignment


@dataclass(frozen=True)
class AssignedLesson:
    """A ready lesson a site is to hold, with the rendition it downloads."""

    lesson: Lesson
    rendition: dict[str, Any]
    assignment_id: int


def assignments_reaching(*, session: Session, site: Site) -> list[SiteAssignment]:
    """Live assignments that reach `site`, oldest first."""
    ancestors = site.org.ancestor_ids
    query = (
        select(SiteAssignment)
        .where(
            SiteAssignment.removed_at.is_(None),
            or_(
                and_(
                    SiteAssignment.target == AssignmentTarget.site,
                    SiteAssignment.site_id == site.id,
                ),
                and_(
                    SiteAssignment.target == AssignmentTarget.org,
                    SiteAssignment.org_id.in_(ancestors),
                ),
                and_(
                    SiteAssignment.target == AssignmentTarget.tier,
                    SiteAssignment.tier == site.tier,
                    SiteAssignment.org_id.in_(ancestors),
                ),
            ),
        )
        .order_by(SiteAssignment.created_at, SiteAssignment.id)
    )
    return list(session.scalars(query))


def tier_height(tier: str) -> int:
    """The tallest rendition a tier downloads; an unknown tier gets the lowest tier's."""
    tiers = get_settings().site_tiers
    return tiers.get(tier, min(tiers.values()))


def rendition_for(lesson: Lesson, *, height: int) -> dict[str, Any] | None:
    """The tallest rendition no taller than `height`, or the smallest one when all are taller."""
    rungs = sorted(lesson.renditions, key=lambda rung: rung["height"])
    if not rungs:
        return None
    fitting = [rung for rung in rungs if rung["height"] <= height]
    return fitting[-1] if fitting else rungs[0]


def assigned_lessons(*, session: Session, site: Site) -> list[AssignedLesson]:
    """Every ready lesson the site's assignments add up to, once each, in assignment order and
    then course order; deleted lessons and courses drop out."""
    height = tier_height(site.tier)
    found: dict[int, AssignedLesson] = {}
    for assignment in assignments_reaching(session=session, site=site):
        for lesson in _lessons_of(session=session, assignment=assignment):
            rendition = rendition_for(lesson, height=height)
            if lesson.id in found or rendition is None:
                continue
            found[lesson.id] = AssignedLesson(lesson, rendition, assignment.id)
    return list(found.values())


def _lessons_of(*, session: Session, assignment: SiteAssignment) -> list[Lesson]:
    query = (
        select(Lesson)
        .join(Course, Course.id == Lesson.course_id)
        .where(
            Lesson.status == LessonStatus.ready,
            Lesson.deleted_at.is_(None),
            Course.deleted_at.is_(None),
        )
        .order_by(Lesson.position, Lesson.id)
    )
    if assignment.lesson_id is not None:
        query = query.where(Lesson.id == assignment.lesson_id)
    else:
        query = query.where(Lesson.course_id == assignment.course_id)
    return list(session.scalars(query))
