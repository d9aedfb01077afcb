"""A site's month gathered from what the sync stores: heartbeats (days open, power-on) and the
agent's uploaded records of kind session and interval (group sessions held, minutes played).

This is the one place the report cards read site activity from: when typed group-session and
interval tables exist, only these functions change. Days are local (UTC+8). Minutes are merged
per day, so two players running at once count once; records flagged as from the future are
not trusted and left out; record times are corrected by the agent's measured clock offset.
"""

import calendar
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, select
from sqlalchemy.orm import Session

from core.localtime import day_start, local_date
from terminals.reports.compliance import SiteMonth
from terminals.sites.models import Site
from terminals.sync.models import SiteHeartbeat, SiteRecord

# An interval longer than this is not believed (an agent's clock jump or a corrupt record).
LONGEST_INTERVAL = timedelta(hours=12)


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The first moment of the local month and of the next one."""
    last = calendar.monthrange(year, month)[1]
    return day_start(date(year, month, 1)), day_start(date(year, month, last) + timedelta(days=1))


def _local_day(session: Session, column: Any) -> ColumnElement[Any]:
    """The local calendar day of a stored UTC moment, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column) + timedelta(hours=8), Date)
    return func.date(column, "+8 hours")


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _moment(text: object, offset: float) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment + timedelta(seconds=offset)


def _merged_minutes(spans: Iterable[tuple[datetime, datetime]]) -> dict[date, float]:
    """Minutes covered on each local day by the union of the spans."""
    ordered = sorted(spans)
    merged: list[list[datetime]] = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    minutes: dict[date, float] = defaultdict(float)
    for start, end in merged:
        while start < end:
            day = local_date(start)
            cut = min(end, day_start(day + timedelta(days=1)))
            minutes[day] += (cut - start).total_seconds() / 60
            start = cut
    return dict(minutes)


def site_months(
    session: Session, site_ids: Sequence[int], year: int, month: int
) -> dict[int, SiteMonth]:
    """Each site's month (sites with no activity get an empty month)."""
    first, after = month_bounds(year, month)
    open_days: dict[int, set[date]] = defaultdict(set)
    if not site_ids:
        return {}
    for column in (SiteHeartbeat.received_at, SiteHeartbeat.powered_on_at):
        day = _local_day(session, column)
        rows = session.execute(
            select(SiteHeartbeat.site_id, day)
            .where(
                SiteHeartbeat.site_id.in_(site_ids),
                SiteHeartbeat.received_at >= first - timedelta(days=1),
                SiteHeartbeat.received_at < after + timedelta(days=1),
                column >= first,
                column < after,
            )
            .group_by(SiteHeartbeat.site_id, day)
        )
        for site_id, seen in rows:
            open_days[site_id].add(_as_date(seen))
    spans: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    sessions: dict[int, set[str]] = defaultdict(set)
    rows = session.execute(
        select(
            SiteRecord.site_id,
            SiteRecord.kind,
            SiteRecord.body,
            SiteRecord.clock_offset_seconds,
        ).where(
            SiteRecord.site_id.in_(site_ids),
            SiteRecord.kind.in_(("session", "interval")),
            SiteRecord.occurred_at >= first - timedelta(days=1),
            SiteRecord.occurred_at < after + timedelta(days=1),
            SiteRecord.flag.is_(None),
        )
    )
    for site_id, kind, body, offset in rows:
        if kind == "session":
            at = _moment(body.get("at"), offset)
            if at is None or not first <= at < after or body.get("event") != "started":
                continue
            sessions[site_id].add(str(body.get("session_id")))
            open_days[site_id].add(local_date(at))
            continue
        start = _moment(body.get("started_at"), offset)
        try:
            played = (float(body["media_end"]) - float(body["media_start"])) / float(
                body.get("rate") or 1.0
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
        if start is None or played <= 0:
            continue
        end = start + min(timedelta(seconds=played), LONGEST_INTERVAL)
        start, end = max(start, first), min(end, after)
        if start < end:
            spans[site_id].append((start, end))
    months = {}
    for site_id in site_ids:
        minutes = _merged_minutes(spans[site_id])
        days = open_days[site_id] | {day for day, played in minutes.items() if played > 0}
        months[site_id] = SiteMonth(
            year=year,
            month=month,
            minutes_by_day=minutes,
            group_sessions=len(sessions[site_id]),
            open_days=frozenset(day for day in days if (day.year, day.month) == (year, month)),
        )
    return months


def site_month(session: Session, site: Site, year: int, month: int) -> SiteMonth:
    """What `site` did in the local month `year`-`month`."""
    return site_months(session, [site.id], year, month)[site.id]
