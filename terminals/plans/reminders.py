"""Reminders of study plans through the notifier: once when a plan's deadline is near, once when
it has passed, to each bound member with a login who has not done it. The reminders sent are
rows unique per plan, member and kind, so a run repeated after a crash sends nothing twice."""

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.i18n import N_, gettext
from core.notify.service import notify
from core.people.models import Member
from core.settings import get_settings
from terminals.plans.models import StudyPlan, StudyPlanReminder
from terminals.plans.progress import State, plan_states

DUE_SOON, OVERDUE = "due_soon", "overdue"


def send_plan_reminders(*, session: Session, today: date) -> int:
    """Remind the members who still owe a plan due within the reminder window, or overdue;
    returns how many reminders went out."""
    settings = get_settings()
    horizon = today + timedelta(days=settings.plan_reminder_days)
    plans = session.scalars(
        select(StudyPlan).where(StudyPlan.withdrawn_at.is_(None), StudyPlan.deadline <= horizon)
    )
    sent = 0
    for plan in plans:
        kind = OVERDUE if plan.deadline < today else DUE_SOON
        owing = [
            member_id
            for member_id, state in plan_states(session=session, plan=plan).items()
            if state is not State.done
        ]
        reminded = set(
            session.scalars(
                select(StudyPlanReminder.member_id).where(
                    StudyPlanReminder.plan_id == plan.id, StudyPlanReminder.kind == kind
                )
            )
        )
        targets = session.execute(
            select(Member.id, Member.user_id).where(
                Member.id.in_([m for m in owing if m not in reminded]),
                Member.user_id.is_not(None),
            )
        ).all()
        if not targets:
            continue
        locale = settings.default_locale
        title = gettext(
            locale,
            N_("Study plan due %(date)s: %(title)s")
            if kind == DUE_SOON
            else N_("Study plan overdue since %(date)s: %(title)s"),
            date=plan.deadline.isoformat(),
            title=plan.title,
        )
        body = gettext(locale, N_("Open My study to see what is left to do."))
        notify(
            session=session,
            recipients=[user_id for _, user_id in targets if user_id is not None],
            category="plan_reminder",
            title=title,
            body=body,
            link="/my/study",
        )
        session.add_all(
            StudyPlanReminder(plan_id=plan.id, member_id=member_id, kind=kind)
            for member_id, _ in targets
        )
        sent += len(targets)
    return sent
