"""JSON API of study plans: org admins set, list and withdraw the plans of their subtrees."""

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from core.api import RowId, SessionDep, client_address, verify_csrf
from core.people.api import AdminUser
from courseware.models import Course, Lesson
from terminals.plans.models import StudyPlan
from terminals.plans.schemas import PlanCreate, PlanItemRead, PlanRead
from terminals.plans.service import (
    ItemChoice,
    create_plan,
    get_managed_plan,
    managed_plans,
    withdraw_plan,
)

router = APIRouter(prefix="/api/plans", dependencies=[Depends(verify_csrf)], tags=["study plans"])


def plan_read(session: Session, plan: StudyPlan) -> PlanRead:
    """A plan as the API shows it, each item with its lesson's or course's title."""
    items = []
    for item in plan.items:
        source = (
            session.get(Lesson, item.lesson_id)
            if item.lesson_id is not None
            else session.get(Course, item.course_id)
        )
        items.append(
            PlanItemRead(
                id=item.id,
                lesson_id=item.lesson_id,
                course_id=item.course_id,
                title=source.title if source is not None else "",
                credit_hours=item.credit_hours,
            )
        )
    return PlanRead(
        id=plan.id,
        org_id=plan.org_id,
        org_name=plan.org.name,
        title=plan.title,
        description=plan.description,
        audience=plan.audience,
        duty=plan.duty,
        deadline=plan.deadline,
        created_at=plan.created_at,
        withdrawn_at=plan.withdrawn_at,
        items=items,
        member_ids=[named.member_id for named in plan.named],
        total_hours=round(sum(item.credit_hours for item in plan.items), 2),
    )


@router.get("", response_model=list[PlanRead])
def plans_index(session: SessionDep, actor: AdminUser, withdrawn: bool = False) -> Any:
    """Plans of the organisations the caller manages, soonest deadline first."""
    plans = session.scalars(managed_plans(actor=actor, include_withdrawn=withdrawn))
    return [plan_read(session, plan) for plan in plans]


@router.post("", response_model=PlanRead, status_code=201)
def plans_create(body: PlanCreate, request: Request, session: SessionDep, actor: AdminUser) -> Any:
    """Set a study plan for members of an organisation the caller manages."""
    plan = create_plan(
        session=session,
        actor=actor,
        org_id=body.org_id,
        title=body.title,
        description=body.description,
        deadline=body.deadline,
        audience=body.audience,
        duty=body.duty,
        items=[
            ItemChoice(item.lesson_id, item.course_id, item.credit_hours) for item in body.items
        ],
        member_ids=body.member_ids,
        address=client_address(request),
    )
    return plan_read(session, plan)


@router.get("/{plan_id}", response_model=PlanRead)
def plans_show(plan_id: RowId, session: SessionDep, actor: AdminUser) -> Any:
    """One plan of an organisation the caller manages."""
    return plan_read(session, get_managed_plan(session=session, actor=actor, plan_id=plan_id))


@router.delete("/{plan_id}", response_model=PlanRead)
def plans_withdraw(plan_id: RowId, request: Request, session: SessionDep, actor: AdminUser) -> Any:
    """Withdraw a plan: it binds no one any more; its history stays."""
    plan = withdraw_plan(
        session=session, actor=actor, plan_id=plan_id, address=client_address(request)
    )
    return plan_read(session, plan)
