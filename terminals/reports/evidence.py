"""A site's month gathered from what the sync stores: heartbeats (days open, power-on) and the
agent's uploaded records of kind session and interval (group sessions held, minutes played).

This is the one place the report cards read site activity from: interval records through the
columns intake types them into, session records through their bodies. Days are local (UTC+8).
Minutes are merged per day, so two players running at once count once; records flagged as from
the future are not trusted and left out; record times are corrected by the agent's measured
clock offset.

What the records say of a day is kept per site and day (site_day_figures) and made again only
when a record arrives for that day or a neighbour (terminals.sync moves on a counter of those
days, SiteRecordDay): a month's cards then read a row per site and day instead of every record,
and the running month costs little more than a closed one. A report that meets stale days
makes them (and keeps them); the reports' ten-minute task does so first, for all sites.
"""

import calendar
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, case, cast, func, null, select
from sqlalchemy.orm import Session

from core.db import among, upsert
from core.localtime import day_start, local_date
from terminals.reports.compliance import SiteMonth
from terminals.reports.models import SiteDayFigures
from terminals.sites.models import Site
from terminals.sync.models import SiteHeartbeat, SiteRecord, SiteRecordDay

# An interval longer than this is not believed (an agent's clock jump or a corrupt record).
LONGEST_INTERVAL = timedelta(hours=12)
ONE_DAY = timedelta(days=1)


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


@dataclass
class DayFigures:
    """A site's day as its records tell it: minutes played (merged) and sessions started."""

    minutes: float = 0.0
    sessions: set[str] = field(default_factory=set)


def site_months(
    session: Session, site_ids: Sequence[int], year: int, month: int
) -> dict[int, SiteMonth]:
    """Each site's month (sites with no activity get an empty month)."""
    if not site_ids:
        return {}
    first, after = month_bounds(year, month)
    open_days: dict[int, set[date]] = defaultdict(set)
    for column in (SiteHeartbeat.received_at, SiteHeartbeat.powered_on_at):
        day = _local_day(session, column)
        rows = session.execute(
            select(SiteHeartbeat.site_id, day)
            .where(
                among(session, SiteHeartbeat.site_id, site_ids),
                SiteHeartbeat.received_at >= first - timedelta(days=1),
                SiteHeartbeat.received_at < after + timedelta(days=1),
                column >= first,
                column < after,
            )
            .group_by(SiteHeartbeat.site_id, day)
        )
        for site_id, seen in rows:
            open_days[site_id].add(_as_date(seen))
    last = date(year, month, calendar.monthrange(year, month)[1])
    figures = day_figures(session, site_ids, date(year, month, 1), last)
    months = {}
    for site_id in site_ids:
        days = figures.get(site_id, {})
        minutes = {day: f.minutes for day, f in days.items() if f.minutes > 0}
        started = {day for day, f in days.items() if f.sessions}
        months[site_id] = SiteMonth(
            year=year,
            month=month,
            minutes_by_day=minutes,
            group_sessions=len(set().union(*(f.sessions for f in days.values()))),
            open_days=frozenset(open_days[site_id] | started | set(minutes)),
        )
    return months


def day_figures(
    session: Session, site_ids: Sequence[int], first: date, last: date
) -> dict[int, dict[date, DayFigures]]:
    """The figures of each site's days from `first` to `last` that have records near them (the
    others have none): those kept in site_day_figures while their records are unchanged, the
    rest made from the records now, and kept."""
    counter, kept = SiteRecordDay, SiteDayFigures.__table__.c
    figures: dict[int, dict[date, DayFigures]] = defaultdict(dict)
    stale: dict[int, list[date]] = defaultdict(list)
    sources: dict[tuple[int, date], int] = {}
    for site_id, day, revision, minutes, sessions, source in session.execute(
        select(
            counter.site_id,
            counter.day,
            counter.revision,
            kept.minutes,
            case((kept.started > 0, kept.sessions), else_=null()),
            kept.source,
        )
        .outerjoin(SiteDayFigures, and_(kept.site_id == counter.site_id, kept.day == counter.day))
        .where(among(session, counter.site_id, site_ids), counter.day.between(first, last))
    ):
        if source == revision:
            figures[site_id][day] = DayFigures(minutes, set(sessions or ()))
        else:
            stale[site_id].append(day)
            sources[site_id, day] = revision
    if stale:
        made = _from_records(session, stale)
        rows = [
            {
                "site_id": site_id,
                "day": day,
                "minutes": made[site_id][day].minutes,
                "started": len(made[site_id][day].sessions),
                "sessions": sorted(made[site_id][day].sessions),
                "source": sources[site_id, day],
            }
            for site_id, days in stale.items()
            for day in days
        ]
        statement = upsert(session, SiteDayFigures)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[SiteDayFigures.site_id, SiteDayFigures.day],
                set_={
                    "minutes": statement.excluded.minutes,
                    "started": statement.excluded.started,
                    "sessions": statement.excluded.sessions,
                    "source": statement.excluded.source,
                },
            ),
            rows,
        )
        for site_id, days in stale.items():
            for day in days:
                figures[site_id][day] = made[site_id][day]
    return figures


def _from_records(
    session: Session, wanted: dict[int, list[date]]
) -> dict[int, dict[date, DayFigures]]:
    """Figures of the wanted days of each site, made from the records that can bear on them:
    those whose time lies within a day of the days (an interval is believed for at most
    LONGEST_INTERVAL), read in one query per stretch of days."""
    by_stretch: dict[tuple[date, date], list[int]] = defaultdict(list)
    for site_id, wanted_days in wanted.items():
        by_stretch[min(wanted_days), max(wanted_days)].append(site_id)
    made: dict[int, dict[date, DayFigures]] = {}
    for (first_day, last_day), site_ids in by_stretch.items():
        first, after = day_start(first_day), day_start(last_day + ONE_DAY)
        spans: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        days: dict[int, dict[date, DayFigures]] = defaultdict(lambda: defaultdict(DayFigures))
        for chunk in _chunks(site_ids):
            near = (
                among(session, SiteRecord.site_id, chunk),
                SiteRecord.occurred_at >= first - ONE_DAY,
                SiteRecord.occurred_at < after + ONE_DAY,
                SiteRecord.flag.is_(None),
            )
            started = session.execute(
                select(SiteRecord.site_id, SiteRecord.body, SiteRecord.clock_offset_seconds).where(
                    *near, SiteRecord.kind == "session"
                )
            )
            for site_id, body, offset in started:
                at = _moment(body.get("at"), offset)
                if at is not None and first <= at < after and body.get("event") == "started":
                    days[site_id][local_date(at)].sessions.add(str(body.get("session_id")))
            intervals = session.execute(
                select(
                    SiteRecord.site_id,
                    SiteRecord.wall_start,
                    SiteRecord.media_start,
                    SiteRecord.media_end,
                    SiteRecord.rate,
                    SiteRecord.clock_offset_seconds,
                ).where(*near, SiteRecord.kind == "interval")
            )
            for site_id, wall_start, media_start, media_end, rate, offset in intervals:
                span = _span(wall_start, media_start, media_end, rate, offset, first, after)
                if span is not None:
                    spans[site_id].append(span)
        for site_id in site_ids:
            for day, minutes in _merged_minutes(spans[site_id]).items():
                days[site_id][day].minutes = minutes
            made[site_id] = {day: days[site_id][day] for day in wanted[site_id]}
    return made


def _span(
    wall_start: float | None,
    media_start: float | None,
    media_end: float | None,
    rate: float | None,
    offset: float,
    first: datetime,
    after: datetime,
) -> tuple[datetime, datetime] | None:
    """The wall time an interval record says was played, within [first, after)."""
    if wall_start is None or media_start is None or media_end is None or not rate:
        return None
    played = (media_end - media_start) / rate
    if played <= 0:
        return None
    start = datetime.fromtimestamp(wall_start + offset, UTC)
    end = start + min(timedelta(seconds=played), LONGEST_INTERVAL)
    start, end = max(start, first), min(end, after)
    return (start, end) if start < end else None


def _chunks(site_ids: list[int], size: int = 1000) -> Iterable[list[int]]:
    for offset in range(0, len(site_ids), size):
        yield site_ids[offset : offset + size]


def site_month(session: Session, site: Site, year: int, month: int) -> SiteMonth:
    """What `site` did in the local month `year`-`month`."""
    return site_months(session, [site.id], year, month)[site.id]
