"""Recurring work of study plans: reminders, checked every hour."""

from datetime import timedelta

from core.db import session_scope, utcnow
from core.jobs import recurring
from core.localtime import local_date
from terminals.plans.reminders import send_plan_reminders


@recurring("plans.remind", every=timedelta(hours=1))
def remind_plans() -> int:
    """Send the plan reminders that are due."""
    with session_scope() as session:
        return send_plan_reminders(session=session, today=local_date(utcnow()))
