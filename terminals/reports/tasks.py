"""Recurring work of the reports: close the month that ended (cards stored, shortfalls
escalated). Checked every hour so a month closes soon after local midnight; a closed month
costs one query."""

from datetime import timedelta

from core.db import session_scope, utcnow
from core.jobs import recurring
from core.localtime import local_date
from terminals.reports.cards import previous_month
from terminals.reports.closing import close_month


@recurring("reports.close_month", every=timedelta(hours=1))
def close_last_month() -> int:
    """Store and escalate last month's report cards (those not stored yet)."""
    today = local_date(utcnow())
    year, month = previous_month(today.year, today.month)
    with session_scope() as session:
        return close_month(session, year, month, today=today)
