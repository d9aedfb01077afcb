"""A member's progress with study plans, 我的学习, reminders through the notifier, and the
recurring-task claim that sends them once however many workers sweep."""

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs import schedule
from core.jobs.models import RecurringRun
from core.jobs.schedule import RETRY, recurring, registered, run_due_recurring
from core.notify.models import Notice
from core.people.models import Member, Role
from terminals.credits.ledger import award_credit
from terminals.plans.models import Audience
from terminals.plans.progress import State, member_progress, summarise_plan
from terminals.plans.reminders import send_plan_reminders
from terminals.plans.service import ItemChoice, create_plan, plans_binding
from tests.factories import make_course, make_lesson, make_tree, make_user, token_for

TODAY = date.today()


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    tree = make_tree(session)
    admin = make_user(session, "adm", Role.org_admin, tree.town)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    course = make_course(session, publisher, tree.town, title="党章学习")
    first = make_lesson(session, course, "第一讲", credit_hours=1.0)
    second = make_lesson(session, course, "第二讲", credit_hours=0.5)
    single = make_lesson(session, make_course(session, publisher, tree.town, "廉政"), "警示")
    learner = make_user(session, "wang", Role.member, tree.branch)
    members = []
    for serial, (name, user) in enumerate([("王芳", learner), ("李强", None)]):
        member = Member(
            org_id=tree.branch.id,
            name=name,
            id_number_hash=f"h{serial}",
            id_number_masked=f"1101**********000{serial}",
            user_id=user.id if user else None,
        )
        session.add(member)
        members.append(member)
    session.commit()
    plan = create_plan(
        session=session,
        actor=admin,
        org_id=tree.town.id,
        title="七一专题",
        deadline=TODAY + timedelta(days=5),
        audience=Audience.subtree,
        items=[ItemChoice(course_id=course.id), ItemChoice(lesson_id=single.id)],
    )
    session.commit()
    return {
        "plan": plan,
        "lessons": (first.id, second.id, single.id),
        "wang": members[0],
        "li": members[1],
    }


def _award(session: Session, member: Member, lesson_id: int) -> None:
    award_credit(
        session=session,
        member_id=member.id,
        source="web",
        source_ref="test",
        award_key=f"lesson:{lesson_id}",
        hours=1.0,
        category="online",
        occurred_at=utcnow(),
        lesson_id=lesson_id,
    )
    session.commit()


def test_items_and_plans_move_from_not_started_to_done(
    session: Session, world: dict[str, Any]
) -> None:
    wang, (first, second, single) = world["wang"], world["lessons"]
    plans = plans_binding(session=session, member=wang)

    def states() -> list[Any]:
        [progress] = member_progress(session=session, member=wang, plans=plans)
        return [progress.state, *[(i.state, i.lessons_done, i.lessons) for i in progress.items]]

    assert states() == [State.not_started, (State.not_started, 0, 2), (State.not_started, 0, 1)]
    _award(session, wang, first)
    assert states() == [State.in_progress, (State.in_progress, 1, 2), (State.not_started, 0, 1)]
    _award(session, wang, second)
    _award(session, wang, single)
    [done] = member_progress(session=session, member=wang, plans=plans)
    assert done.state is State.done and not done.overdue and done.hours_done == 1.5
    late = member_progress(
        session=session, member=world["li"], plans=plans, today=TODAY + timedelta(days=6)
    )
    assert late[0].overdue and late[0].state is State.not_started
    summary = summarise_plan(session=session, plan=world["plan"])
    assert (summary.members, summary.done, summary.not_started) == (2, 1, 1)


def test_reminders_go_once_to_members_with_logins_who_still_owe(
    session: Session, world: dict[str, Any]
) -> None:
    assert send_plan_reminders(session=session, today=TODAY - timedelta(days=30)) == 0
    assert send_plan_reminders(session=session, today=TODAY) == 1  # 李强 has no login
    session.commit()
    assert send_plan_reminders(session=session, today=TODAY + timedelta(days=1)) == 0
    session.commit()
    [notice] = session.scalars(select(Notice)).all()
    assert "七一专题" in notice.title and "截止" in notice.title and notice.link == "/my/study"
    assert send_plan_reminders(session=session, today=TODAY + timedelta(days=6)) == 1
    session.commit()
    overdue = session.scalars(select(Notice).order_by(Notice.id.desc())).first()
    assert overdue is not None and "逾期" in overdue.title
    for lesson_id in world["lessons"]:
        _award(session, world["wang"], lesson_id)
    world["plan"].deadline = TODAY + timedelta(days=20)
    session.commit()
    assert send_plan_reminders(session=session, today=TODAY + timedelta(days=14)) == 0


def test_my_study_shows_the_year_and_what_is_required(
    client: TestClient, session: Session, world: dict[str, Any]
) -> None:
    _award(session, world["wang"], world["lessons"][0])
    token_for(client, "wang")
    page = client.get("/my/study")
    assert page.status_code == 200
    text = page.text
    assert "我的学习" in text and "七一专题" in text and "学习中" in text and "未开始" in text
    assert "已完成 1 / 2 课" in text
    token_for(client, None)
    client.cookies.clear()
    token_for(client, "adm")
    assert client.get("/my/study").status_code == 404  # an account with no member record
    plan_page = client.get(f"/admin/plans/{world['plan'].id}")
    assert "应学党员" in plan_page.text


def test_a_recurring_task_runs_once_per_period_and_retries_after_a_failure(
    session: Session,
) -> None:
    calls: list[str] = []
    before = {task.name for task in registered()}

    @recurring("test.tick", every=timedelta(hours=1))
    def tick() -> None:
        calls.append("tick")
        if len(calls) == 2:
            raise RuntimeError("boom")

    try:
        start = utcnow()
        assert "test.tick" in run_due_recurring(now=start)
        assert "test.tick" not in run_due_recurring(now=start + timedelta(minutes=59))
        assert "test.tick" in run_due_recurring(now=start + timedelta(hours=1))  # fails
        row = session.get_one(RecurringRun, "test.tick")
        assert row.error == "boom"
        later = start + timedelta(hours=1) + RETRY
        assert "test.tick" in run_due_recurring(now=later)
        assert calls == ["tick", "tick", "tick"]
    finally:
        for name in {task.name for task in registered()} - before:
            schedule._RECURRING.pop(name)
