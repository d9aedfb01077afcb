"""Writing the credit ledger: awards (from web study now; site group sessions and live events
call the same `award_credit`) and compensating corrections. Rows are only ever inserted; the
database refuses an UPDATE of one (migration 0008)."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.localtime import day_start, local_date
from core.people.models import Member, User
from core.settings import get_settings
from terminals.credits.models import CreditEntry

# Sources of credit; each names the thing it came from in `source_ref`.
WEB, SITE, LIVE, CORRECTION = "web", "site", "live", "correction"
# Daily-cap categories (settings.credit_daily_caps).
ONLINE, GROUP, LIVE_EVENT = "online", "group", "live"
MAX_CORRECTION_HOURS = 1000.0


def credit_year(moment: datetime) -> int:
    """The credit year `moment` falls in (local time)."""
    return local_date(moment).year


def day_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The local calendar day holding `moment`, as aware [start, end)."""
    start = day_start(local_date(moment))
    return start, start + timedelta(days=1)


def hours_in(units: str, quantity: float) -> float:
    """Hours for `quantity` of a unit of the conversion table (1 training day = 8 by default)."""
    table = get_settings().credit_conversions
    if units not in table:
        raise InvalidInput(
            N_("Unknown unit %(unit)s: use one of %(units)s."),
            unit=units,
            units=", ".join(sorted(table)),
        )
    return round(table[units] * quantity, 2)


def _earned_today(session: Session, member_id: int, category: str, moment: datetime) -> float:
    start, end = day_bounds(moment)
    used = session.scalar(
        select(func.coalesce(func.sum(CreditEntry.hours), 0.0)).where(
            CreditEntry.member_id == member_id,
            CreditEntry.category == category,
            CreditEntry.source != CORRECTION,
            CreditEntry.occurred_at >= start,
            CreditEntry.occurred_at < end,
        )
    )
    return float(used or 0.0)


def award_credit(
    *,
    session: Session,
    member_id: int,
    source: str,
    source_ref: str,
    award_key: str,
    hours: float,
    category: str,
    occurred_at: datetime,
    lesson_id: int | None = None,
    year: int | None = None,
    detail: dict[str, Any] | None = None,
) -> CreditEntry:
    """Give a member `hours` for one thing (`award_key`, e.g. "lesson:12") once per credit
    year: a second award of the same key returns the first. The daily cap of `category` limits
    what is given; the row then tells what was asked. The year is that of `occurred_at` unless
    the study belongs to another (a session begun before midnight on 31 December)."""
    year = year if year is not None else credit_year(occurred_at)
    existing = _award(session, member_id, year, award_key)
    if existing is not None:
        return existing
    facts = dict(detail or {})
    granted = round(hours, 2)
    cap = get_settings().credit_daily_caps.get(category)
    if cap is not None:
        room = max(0.0, cap - _earned_today(session, member_id, category, occurred_at))
        if granted > room:
            facts |= {"asked": granted, "daily_cap": cap}
            granted = round(room, 2)
    entry = CreditEntry(
        member_id=member_id,
        year=year,
        source=source,
        source_ref=source_ref[:80],
        award_key=award_key,
        lesson_id=lesson_id,
        category=category,
        hours=granted,
        occurred_at=occurred_at,
        detail=facts,
    )
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError:
        # Another transaction awarded the same thing first: theirs stands.
        winner = _award(session, member_id, year, award_key)
        if winner is None:
            raise
        return winner
    return entry


def _award(session: Session, member_id: int, year: int, award_key: str) -> CreditEntry | None:
    return session.scalar(
        select(CreditEntry).where(
            CreditEntry.member_id == member_id,
            CreditEntry.year == year,
            CreditEntry.award_key == award_key,
        )
    )


def correct_credit(
    *,
    session: Session,
    actor: User,
    member: Member,
    hours: float,
    reason: str,
    year: int | None = None,
    corrects_id: int | None = None,
    address: str = "",
) -> CreditEntry:
    """Add a compensating entry (hours may be negative) with its reason and author, audited.
    Naming the entry it corrects puts the correction in that entry's year."""
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput(N_("Give the reason for the correction."))
    if not hours or abs(hours) > MAX_CORRECTION_HOURS:
        raise InvalidInput(
            N_("A correction is between -%(max)s and %(max)s hours, and not 0."),
            max=int(MAX_CORRECTION_HOURS),
        )
    now = utcnow()
    if corrects_id is not None:
        target = session.get(CreditEntry, corrects_id)
        if target is None or target.member_id != member.id:
            raise NotFound(N_("Credit entry %(id)s not found."), id=corrects_id)
        year = target.year
    if year is None:
        year = credit_year(now)
    entry = CreditEntry(
        member_id=member.id,
        year=year,
        source=CORRECTION,
        source_ref=f"entry:{corrects_id}" if corrects_id is not None else "",
        category=CORRECTION,
        hours=round(hours, 2),
        occurred_at=now,
        recorded_at=now,
        corrects_id=corrects_id,
        author_id=actor.id,
        reason=reason[:1000],
    )
    session.add(entry)
    session.flush()
    record(
        session=session,
        action="credit_corrected",
        actor=actor,
        target_type="member",
        target_id=member.id,
        org_id=member.org_id,
        address=address,
        detail={"name": member.name, "hours": entry.hours, "year": year, "entry": entry.id},
    )
    return entry
