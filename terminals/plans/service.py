"""Study plans: setting them, whom they bind, and withdrawing them.

A plan is set by an org admin for members of the org's subtree; its items are lessons or whole
courses the admin can see, each with the credit hours completing it earns (the lesson's own,
or the course's lessons' sum, unless given). Plans are never edited in place once members may
have started: a changed requirement is a new plan, and the old one is withdrawn.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.people.models import Member, Organisation, User
from core.people.permissions import managed_orgs
from core.people.service import target_org
from courseware.service import get_course, get_lesson
from terminals.plans.models import Audience, StudyPlan, StudyPlanItem, StudyPlanMember


@dataclass(frozen=True)
class ItemChoice:
    """One required item as asked for: a lesson or a course, with hours or None for the default."""

    lesson_id: int | None = None
    course_id: int | None = None
    credit_hours: float | None = None


def create_plan(
    *,
    session: Session,
    actor: User,
    org_id: int,
    title: str,
    deadline: date,
    audience: Audience,
    items: list[ItemChoice],
    description: str = "",
    duty: str = "",
    member_ids: list[int] | None = None,
    address: str = "",
) -> StudyPlan:
    """Set a plan for the members of `org_id`'s subtree that `audience` picks."""
    org = target_org(session=session, actor=actor, org_id=org_id)
    if not items:
        raise InvalidInput(N_("A study plan needs at least one lesson or course."))
    if deadline < utcnow().date():
        raise InvalidInput(N_("The deadline has passed already."))
    if audience is Audience.duty and not duty:
        raise InvalidInput(N_("Choose the duty the plan is for."))
    named = _named_members(session=session, org=org, member_ids=member_ids or [])
    if audience is Audience.named and not named:
        raise InvalidInput(N_("Name at least one member of the organisation."))
    plan = StudyPlan(
        org_id=org.id,
        title=title,
        description=description,
        audience=audience,
        duty=duty if audience is Audience.duty else "",
        deadline=deadline,
        created_by=actor.id,
    )
    plan.items = [
        _item(session=session, actor=actor, choice=choice, position=position)
        for position, choice in enumerate(items)
    ]
    if audience is Audience.named:
        plan.named = [StudyPlanMember(member_id=member.id) for member in named]
    session.add(plan)
    session.flush()
    record(
        session=session,
        action="plan_created",
        actor=actor,
        target_type="plan",
        target_id=plan.id,
        org_id=org.id,
        address=address,
        detail={"title": title, "deadline": deadline.isoformat(), "items": len(plan.items)},
    )
    return plan


def _item(*, session: Session, actor: User, choice: ItemChoice, position: int) -> StudyPlanItem:
    if (choice.lesson_id is None) == (choice.course_id is None):
        raise InvalidInput(N_("Each plan item is one lesson or one course."))
    if choice.credit_hours is not None and not 0 <= choice.credit_hours <= 100:
        raise InvalidInput(N_("Credit hours must be between 0 and 100."))
    if choice.lesson_id is not None:
        lesson = get_lesson(session=session, user=actor, lesson_id=choice.lesson_id)
        default = lesson.credit_hours or 0.0
    else:
        assert choice.course_id is not None
        course = get_course(session=session, user=actor, course_id=choice.course_id)
        default = sum(lesson.credit_hours or 0.0 for lesson in course.lessons)
    hours = choice.credit_hours if choice.credit_hours is not None else round(default, 2)
    return StudyPlanItem(
        position=position,
        lesson_id=choice.lesson_id,
        course_id=choice.course_id,
        credit_hours=hours,
    )


def _named_members(*, session: Session, org: Organisation, member_ids: list[int]) -> list[Member]:
    if not member_ids:
        return []
    members = list(
        session.scalars(
            select(Member)
            .join(Organisation, Organisation.id == Member.org_id)
            .where(Member.id.in_(member_ids), Organisation.path.startswith(org.path))
        )
    )
    missing = sorted(set(member_ids) - {member.id for member in members})
    if missing:
        raise InvalidInput(
            N_("Member %(id)s is not in this organisation's subtree."), id=missing[0]
        )
    return members


def get_managed_plan(*, session: Session, actor: User, plan_id: int) -> StudyPlan:
    """A plan set by an organisation the actor manages; any other is "not found"."""
    plan = session.scalar(
        select(StudyPlan)
        .join(Organisation, Organisation.id == StudyPlan.org_id)
        .where(StudyPlan.id == plan_id, managed_orgs(actor))
    )
    if plan is None:
        raise NotFound(N_("Study plan %(id)s not found."), id=plan_id)
    return plan


def managed_plans(*, actor: User, include_withdrawn: bool = False) -> Select[Any]:
    """Plans set by organisations the actor manages, soonest deadline first."""
    query = (
        select(StudyPlan)
        .join(Organisation, Organisation.id == StudyPlan.org_id)
        .where(managed_orgs(actor))
        .order_by(StudyPlan.deadline, StudyPlan.id)
    )
    if not include_withdrawn:
        query = query.where(StudyPlan.withdrawn_at.is_(None))
    return query


def withdraw_plan(*, session: Session, actor: User, plan_id: int, address: str = "") -> StudyPlan:
    """Withdraw a plan: it binds no one from now on, and its history stays."""
    plan = get_managed_plan(session=session, actor=actor, plan_id=plan_id)
    if plan.withdrawn_at is None:
        plan.withdrawn_at = utcnow()
        record(
            session=session,
            action="plan_withdrawn",
            actor=actor,
            target_type="plan",
            target_id=plan.id,
            org_id=plan.org_id,
            address=address,
        )
    return plan


def plans_binding(*, session: Session, member: Member) -> list[StudyPlan]:
    """The live plans that bind a member: set above or at the member's org, for everyone, for
    the member's duty, or naming the member."""
    named = select(StudyPlanMember.plan_id).where(StudyPlanMember.member_id == member.id)
    return list(
        session.scalars(
            select(StudyPlan)
            .where(
                StudyPlan.withdrawn_at.is_(None),
                StudyPlan.org_id.in_(member.org.ancestor_ids),
                or_(
                    StudyPlan.audience == Audience.subtree,
                    (StudyPlan.audience == Audience.duty) & (StudyPlan.duty == _duty_of(member)),
                    StudyPlan.id.in_(named),
                ),
            )
            .order_by(StudyPlan.deadline, StudyPlan.id)
        )
    )


def bound_members(*, plan: StudyPlan) -> Select[Any]:
    """The active members a plan binds."""
    query = (
        select(Member)
        .join(Organisation, Organisation.id == Member.org_id)
        .where(Member.active, Organisation.path.startswith(plan.org.path))
        .order_by(Member.org_id, Member.id)
    )
    if plan.audience is Audience.named:
        return query.where(Member.id.in_([named.member_id for named in plan.named]))
    if plan.audience is Audience.duty:
        return query.where(_duty_column() == plan.duty)
    return query


def _duty_of(member: Member) -> Any:  # merge: Member.duty
    return getattr(member, "duty", "")


def _duty_column() -> Any:  # merge: Member.duty
    return getattr(Member, "duty", None)
