"""What reaches a site: the assignments aimed at it, at an org above it, or at its tier, and the
lessons they add up to, each in the rendition the site's tier downloads; and assigning or
unassigning content, by site, by org subtree or by tier."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.jobs import create_jobs
from core.people.models import Organisation, User
from core.people.permissions import can_manage_org, managed_orgs
from core.people.service import target_org
from core.settings import get_settings
from courseware.models import Course, Lesson, LessonStatus
from courseware.service import get_course, get_lesson
from terminals.sites.fields import check_tier
from terminals.sites.models import AssignmentTarget, Site, SiteAssignment
from terminals.sites.permissions import can_manage_site
from terminals.sites.service import get_managed_site

# The sync protocol's job (terminals.sync.tasks) that computes the size and SHA-256 of every
# file of a lesson ahead of the manifests; assigning content asks for it.
INDEX_LESSON_JOB = "terminals.index_lesson"


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


def ready_lessons() -> Select[Lesson]:
    """The lessons a site can hold: ready, and neither they nor their course deleted."""
    return (
        select(Lesson)
        .join(Course, Course.id == Lesson.course_id)
        .where(
            Lesson.status == LessonStatus.ready,
            Lesson.deleted_at.is_(None),
            Course.deleted_at.is_(None),
        )
    )


def _lessons_of(*, session: Session, assignment: SiteAssignment) -> list[Lesson]:
    query = ready_lessons().order_by(Lesson.position, Lesson.id)
    if assignment.lesson_id is not None:
        query = query.where(Lesson.id == assignment.lesson_id)
    else:
        query = query.where(Lesson.course_id == assignment.course_id)
    return list(session.scalars(query))


# Assigning and unassigning


@dataclass(frozen=True)
class AssignmentView:
    """An assignment as a page lists it: what it assigns and through which target."""

    assignment: SiteAssignment
    title: str
    course_id: int
    lesson_id: int | None
    org_name: str


def _content(
    *, session: Session, actor: User, lesson_id: int | None, course_id: int | None
) -> tuple[int | None, int | None]:
    """The lesson or course to assign, which the actor must be able to see."""
    if (lesson_id is None) == (course_id is None):
        raise InvalidInput(N_("Assign either a lesson or a course."))
    if lesson_id is not None:
        get_lesson(session=session, user=actor, lesson_id=lesson_id)
        return lesson_id, None
    assert course_id is not None
    get_course(session=session, user=actor, course_id=course_id)
    return None, course_id


def _audit_assignment(
    session: Session, action: str, actor: User, assignment: SiteAssignment, address: str
) -> None:
    org_id = assignment.org_id
    if assignment.site_id is not None:
        org_id = session.get_one(Site, assignment.site_id).org_id
    record(
        session=session,
        action=action,
        actor=actor,
        target_type="site_assignment",
        target_id=assignment.id,
        org_id=org_id,
        address=address,
        detail={
            "target": assignment.target.value,
            "site_id": assignment.site_id,
            "tier": assignment.tier,
            "lesson_id": assignment.lesson_id,
            "course_id": assignment.course_id,
        },
    )


def assign_content(
    *,
    session: Session,
    actor: User,
    site_id: int | None = None,
    org_id: int | None = None,
    tier: str | None = None,
    lesson_id: int | None = None,
    course_id: int | None = None,
    address: str = "",
) -> SiteAssignment:
    """Assign a lesson or a course to one site (`site_id`), to every site of an org's subtree
    (`org_id`), or to the sites of one tier within that subtree (`org_id` and `tier`). The
    actor manages the target and can see the content; the same live assignment is not stored
    twice (the existing one is returned)."""
    where: dict[str, object]
    if site_id is not None:
        if org_id is not None or tier is not None:
            raise InvalidInput(N_("Assign to a site, or to an organisation, not both."))
        site = get_managed_site(session=session, actor=actor, site_id=site_id)
        target, where = AssignmentTarget.site, {"site_id": site.id}
    elif org_id is not None:
        org = target_org(session=session, actor=actor, org_id=org_id)
        if tier is not None:
            target, where = AssignmentTarget.tier, {"org_id": org.id, "tier": check_tier(tier)}
        else:
            target, where = AssignmentTarget.org, {"org_id": org.id}
    else:
        raise InvalidInput(N_("Name the site, or the organisation, to assign to."))
    lesson, course = _content(
        session=session, actor=actor, lesson_id=lesson_id, course_id=course_id
    )
    fields = {"target": target, "lesson_id": lesson, "course_id": course, **where}
    existing = session.scalar(
        select(SiteAssignment).where(
            SiteAssignment.removed_at.is_(None),
            *(getattr(SiteAssignment, key) == value for key, value in fields.items()),
        )
    )
    if existing is not None:
        return existing
    assignment = SiteAssignment(created_by=actor.id, **fields)
    session.add(assignment)
    session.flush()
    _audit_assignment(session, "site_content_assigned", actor, assignment, address)
    # Digest the content's files now, in the background: the first manifest that lists them
    # then reads the index instead of hashing gigabytes inside the agent's request.
    lessons = _lessons_of(session=session, assignment=assignment)
    payloads = [{"lesson_id": lesson.id} for lesson in lessons]
    create_jobs(session=session, kind=INDEX_LESSON_JOB, payloads=payloads)
    return assignment


def can_change_assignment(session: Session, actor: User | None, assignment: SiteAssignment) -> bool:
    """Whether the actor manages the assignment's target (the site, or the org it names)."""
    if assignment.site_id is not None:
        site = session.get(Site, assignment.site_id)
        return site is not None and can_manage_site(actor, site)
    org = session.get(Organisation, assignment.org_id)
    return org is not None and can_manage_org(actor, org)


def unassign(*, session: Session, actor: User, assignment_id: int, address: str = "") -> None:
    """End an assignment: the next manifest leaves its content out and agents purge it."""
    assignment = session.get(SiteAssignment, assignment_id)
    if (
        assignment is None
        or assignment.removed_at is not None
        or not can_change_assignment(session, actor, assignment)
    ):
        raise NotFound(N_("Assignment %(id)s not found."), id=assignment_id)
    assignment.removed_at = utcnow()
    session.flush()
    _audit_assignment(session, "site_content_unassigned", actor, assignment, address)


def describe_assignments(
    *, session: Session, assignments: list[SiteAssignment]
) -> list[AssignmentView]:
    """Titles of what the assignments assign, and the org an org or tier assignment names."""
    views = []
    for assignment in assignments:
        if assignment.lesson_id is not None:
            lesson = session.get_one(Lesson, assignment.lesson_id)
            title, course_id = f"{lesson.course.title} · {lesson.title}", lesson.course_id
        else:
            course = session.get_one(Course, assignment.course_id)
            title, course_id = course.title, course.id
        org = session.get(Organisation, assignment.org_id) if assignment.org_id else None
        views.append(
            AssignmentView(
                assignment, title, course_id, assignment.lesson_id, org.name if org else ""
            )
        )
    return views


def assignments_of_org(*, session: Session, actor: User) -> list[SiteAssignment]:
    """Live org and tier assignments the actor may change, newest first."""
    query = (
        select(SiteAssignment)
        .join(Organisation, Organisation.id == SiteAssignment.org_id)
        .where(
            SiteAssignment.removed_at.is_(None),
            SiteAssignment.target != AssignmentTarget.site,
            managed_orgs(actor),
        )
        .order_by(SiteAssignment.created_at.desc(), SiteAssignment.id.desc())
    )
    return list(session.scalars(query))
