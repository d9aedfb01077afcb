"""How far members are with the plans that bind them.

An item is done when every ready lesson in it has been credited to the member (the ledger's
award for that lesson since the plan's year began: the award says the lesson was studied
through, whatever a daily cap or a later correction did to its hours); in progress when any of
it has been played. A plan is overdue when its deadline has passed with an item not done.
"""

import enum
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.localtime import local_date
from core.people.models import Member
from courseware.models import Course, Lesson, LessonStatus
from terminals.credits.models import CreditEntry
from terminals.evidence.models import LessonProgress
from terminals.plans.models import StudyPlan, StudyPlanItem
from terminals.plans.service import bound_members


class State(enum.StrEnum):
    """Where a member stands with an item or a plan."""

    done = "done"
    in_progress = "in_progress"
    not_started = "not_started"


@dataclass(frozen=True)
class ItemProgress:
    """A member's progress with one required item."""

    item_id: int
    lesson_id: int | None
    course_id: int | None
    title: str
    credit_hours: float
    lessons: int
    lessons_done: int
    state: State


@dataclass(frozen=True)
class PlanProgress:
    """A member's progress with one plan."""

    plan_id: int
    title: str
    org_name: str
    deadline: date
    items: list[ItemProgress]
    state: State
    overdue: bool
    hours_required: float
    hours_done: float


def item_lessons(session: Session, item: StudyPlanItem) -> list[int]:
    """The ready lessons an item requires (a course's current ones, in order)."""
    query = select(Lesson.id).where(
        Lesson.status == LessonStatus.ready, Lesson.deleted_at.is_(None)
    )
    if item.lesson_id is not None:
        query = query.where(Lesson.id == item.lesson_id)
    else:
        query = query.where(Lesson.course_id == item.course_id).order_by(Lesson.position, Lesson.id)
    return list(session.scalars(query))


def _title(session: Session, item: StudyPlanItem) -> str:
    source = (
        session.get(Lesson, item.lesson_id)
        if item.lesson_id is not None
        else session.get(Course, item.course_id)
    )
    return source.title if source is not None else ""


def _credited(
    session: Session, member_ids: list[int], lesson_ids: set[int], since_year: int
) -> dict[int, set[int]]:
    """Lessons awarded to each member since `since_year`."""
    found: dict[int, set[int]] = defaultdict(set)
    if not member_ids or not lesson_ids:
        return found
    rows = session.execute(
        select(CreditEntry.member_id, CreditEntry.lesson_id).where(
            CreditEntry.member_id.in_(member_ids),
            CreditEntry.lesson_id.in_(lesson_ids),
            CreditEntry.award_key.is_not(None),
            CreditEntry.year >= since_year,
        )
    )
    for member_id, lesson_id in rows:
        if lesson_id is not None:
            found[member_id].add(lesson_id)
    return found


def _started(
    session: Session, member_ids: list[int], lesson_ids: set[int], since_year: int
) -> dict[int, set[int]]:
    """Lessons each member has played some of since `since_year`."""
    found: dict[int, set[int]] = defaultdict(set)
    if not member_ids or not lesson_ids:
        return found
    rows = session.execute(
        select(LessonProgress.member_id, LessonProgress.lesson_id).where(
            LessonProgress.member_id.in_(member_ids),
            LessonProgress.lesson_id.in_(lesson_ids),
            LessonProgress.covered_seconds > 0,
            LessonProgress.year >= since_year,
        )
    )
    for member_id, lesson_id in rows:
        found[member_id].add(lesson_id)
    return found


def _state(done: int, total: int, started: bool) -> State:
    if total and done >= total:
        return State.done
    return State.in_progress if started or done else State.not_started


def member_progress(
    *, session: Session, member: Member, plans: list[StudyPlan], today: date | None = None
) -> list[PlanProgress]:
    """The member's progress with each of `plans`."""
    today = today or local_date(utcnow())
    shown = []
    for plan in plans:
        since = plan.created_at.year
        lessons_by_item = {item.id: item_lessons(session, item) for item in plan.items}
        wanted = {lesson for lessons in lessons_by_item.values() for lesson in lessons}
        credited = _credited(session, [member.id], wanted, since)[member.id]
        started = _started(session, [member.id], wanted, since)[member.id]
        items = []
        for item in plan.items:
            lessons = lessons_by_item[item.id]
            done = sum(lesson in credited for lesson in lessons)
            state = _state(done, len(lessons), any(lesson in started for lesson in lessons))
            items.append(
                ItemProgress(
                    item.id,
                    item.lesson_id,
                    item.course_id,
                    _title(session, item),
                    item.credit_hours,
                    len(lessons),
                    done,
                    state,
                )
            )
        states = {item.state for item in items}
        overall = (
            State.done
            if states == {State.done}
            else State.not_started
            if states == {State.not_started}
            else State.in_progress
        )
        shown.append(
            PlanProgress(
                plan_id=plan.id,
                title=plan.title,
                org_name=plan.org.name,
                deadline=plan.deadline,
                items=items,
                state=overall,
                overdue=overall is not State.done and plan.deadline < today,
                hours_required=round(sum(item.credit_hours for item in items), 2),
                hours_done=round(
                    sum(item.credit_hours for item in items if item.state is State.done), 2
                ),
            )
        )
    return shown


@dataclass(frozen=True)
class PlanSummary:
    """How the members a plan binds stand with it."""

    members: int
    done: int
    in_progress: int
    not_started: int

    @property
    def done_rate(self) -> float:
        """The share of bound members who have done the whole plan."""
        return round(self.done / self.members, 4) if self.members else 0.0


def plan_states(*, session: Session, plan: StudyPlan) -> dict[int, State]:
    """Each bound member's state with the whole plan, by member id."""
    member_ids = list(session.scalars(bound_members(plan=plan).with_only_columns(Member.id)))
    lessons_by_item = {item.id: item_lessons(session, item) for item in plan.items}
    wanted = {lesson for lessons in lessons_by_item.values() for lesson in lessons}
    since = plan.created_at.year
    credited = _credited(session, member_ids, wanted, since)
    started = _started(session, member_ids, wanted, since)
    states = {}
    for member_id in member_ids:
        done = credited.get(member_id, set())
        all_done = all(lessons and set(lessons) <= done for lessons in lessons_by_item.values())
        if all_done:
            states[member_id] = State.done
        elif done or started.get(member_id):
            states[member_id] = State.in_progress
        else:
            states[member_id] = State.not_started
    return states


def summarise_plan(*, session: Session, plan: StudyPlan) -> PlanSummary:
    """Counts of bound members done, in progress and not started."""
    states = list(plan_states(session=session, plan=plan).values())
    return PlanSummary(
        members=len(states),
        done=states.count(State.done),
        in_progress=states.count(State.in_progress),
        not_started=states.count(State.not_started),
    )
