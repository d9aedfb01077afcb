"""Administration pages of study plans: the plans an admin's organisations set, a form to set
one (whole courses, for the subtree or one duty), and a plan's page."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.api import CurrentUser, RowId, SessionDep, client_address, verify_csrf
from core.db import utcnow
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.people.api import AdminUser
from core.people.forms import active_choices, admin_page, optional_id, redirect, render, submit
from core.people.models import Member, User
from core.people.orgs import org_tree
from courseware.catalog import list_courses
from terminals.credits.ledger import credit_year
from terminals.plans.api import plan_read
from terminals.plans.models import Audience
from terminals.plans.progress import State, member_progress, summarise_plan
from terminals.plans.schemas import PlanCreate
from terminals.plans.service import (
    ItemChoice,
    create_plan,
    get_managed_plan,
    managed_plans,
    plans_binding,
    withdraw_plan,
)
from terminals.records.transcripts import build_transcript

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


def _plans_page(
    request: Request, session: Session, actor: User, *, error: str | None = None, status: int = 200
) -> Response:
    plans = session.scalars(managed_plans(actor=actor, include_withdrawn=True))
    return admin_page(
        request,
        "terminals/plans/plans.html",
        actor=actor,
        section="plans",
        error=error,
        status=status,
        plans=[plan_read(session, plan) for plan in plans],
        orgs=active_choices(org_tree(session=session, actor=actor)),
        courses=[course for course in list_courses(session=session, user=actor) if course.lessons],
        audiences=list(Audience),
        today=date.today(),
    )


@router.get("/admin/plans")
def plans_page(request: Request, session: SessionDep, actor: AdminUser) -> Response:
    """The study plans of the organisations the admin manages, and a form to set one."""
    return _plans_page(request, session, actor)


@router.post("/admin/plans")
def plans_create(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    org_id: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    audience: Annotated[str, Form()] = "subtree",
    duty: Annotated[str, Form()] = "",
    deadline: Annotated[str, Form()] = "",
    course_ids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Set a plan requiring whole courses of the subtree's members (or those of one duty)."""

    def change() -> int:
        chosen = [optional_id(value) for value in course_ids or []]
        if not any(chosen):
            raise InvalidInput(N_("Choose at least one course."))
        body = PlanCreate.model_validate(
            {
                "org_id": optional_id(org_id) or 0,
                "title": title,
                "description": description,
                "audience": audience,
                "duty": duty,
                "deadline": deadline,
                "items": [{"course_id": course_id} for course_id in chosen if course_id],
            }
        )
        return create_plan(
            session=session,
            actor=actor,
            org_id=body.org_id,
            title=body.title,
            description=body.description,
            deadline=body.deadline,
            audience=body.audience,
            duty=body.duty,
            items=[ItemChoice(course_id=item.course_id) for item in body.items],
            address=client_address(request),
        ).id

    def again(error: str, status: int) -> Response:
        return _plans_page(request, session, actor, error=error, status=status)

    return submit(
        request,
        session,
        change,
        done=lambda plan_id: redirect(f"/admin/plans/{plan_id}?done=created"),
        again=again,
    )


@router.get("/admin/plans/{plan_id}")
def plan_page(request: Request, plan_id: RowId, session: SessionDep, actor: AdminUser) -> Response:
    """A plan: what it requires, of whom, by when."""
    plan = get_managed_plan(session=session, actor=actor, plan_id=plan_id)
    return admin_page(
        request,
        "terminals/plans/plan.html",
        actor=actor,
        section="plans",
        plan=plan_read(session, plan),
        summary=summarise_plan(session=session, plan=plan),
    )


@router.post("/admin/plans/{plan_id}/withdraw")
def plan_withdraw(
    request: Request, plan_id: RowId, session: SessionDep, actor: AdminUser
) -> Response:
    """Withdraw a plan: it binds no one from now on."""
    withdraw_plan(session=session, actor=actor, plan_id=plan_id, address=client_address(request))
    return redirect(f"/admin/plans/{plan_id}?done=withdrawn")


@router.get("/my/study")
def my_study(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """我的学习: the member's hours this year against the requirement, and the plans that bind
    them: overdue, still to do, done."""
    member = session.scalar(select(Member).where(Member.user_id == user.id))
    if member is None:
        raise NotFound(N_("This account has no member record."))
    progress = member_progress(
        session=session, member=member, plans=plans_binding(session=session, member=member)
    )
    return render(
        request,
        "terminals/plans/my_study.html",
        {
            "user": user,
            "member": member,
            "t": build_transcript(session=session, member=member, year=credit_year(utcnow())),
            "overdue": [plan for plan in progress if plan.overdue],
            "to_do": [plan for plan in progress if not plan.overdue and plan.state != State.done],
            "done": [plan for plan in progress if plan.state == State.done],
        },
    )
