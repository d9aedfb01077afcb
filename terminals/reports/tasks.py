"""Recurring work of the reports: close the month that ended (cards stored, shortfalls
escalated), checked every hour so a month closes soon after local midnight (a closed month
costs one query); and make the running month's day figures of the sites whose records changed,
every few minutes, so a report seldom has to."""

from datetime import date, timedelta

from sqlalchemy import select

from core.db import session_scope, utcnow
from core.jobs import recurring
from core.localtime import local_date
from terminals.reports.cards import DUTY_STATUSES, previous_month
from terminals.reports.closing import close_month
from terminals.reports.evidence import day_figures
from terminals.sites.models import Site


@recurring("reports.close_month", every=timedelta(hours=1))
def close_last_month() -> int:
    """Store and escalate last month's report cards (those not stored yet)."""
    today = local_date(utcnow())
    year, month = previous_month(today.year, today.month)
    with session_scope() as session:
        return close_month(session, year, month, today=today)


@recurring("reports.day_figures", every=timedelta(minutes=10))
def refresh_day_figures() -> int:
    """Make the running month's stale day figures of the sites with duties; the days seen."""
    today = local_date(utcnow())
    with session_scope() as session:
        site_ids = list(session.scalars(select(Site.id).where(Site.status.in_(DUTY_STATUSES))))
        figures = day_figures(session, site_ids, date(today.year, today.month, 1), today)
        return sum(len(days) for days in figures.values())
