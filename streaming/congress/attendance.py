"""From attendance to study credit: how long each person was in the meeting, and the credit
hours of those present for enough of it (DOMAIN.md: 80% by default, the event's own share)."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from streaming.congress.models import Attendance, Event
from terminals.credits.ledger import LIVE, LIVE_EVENT, award_credit
from terminals.credits.models import CreditEntry


def seconds_present(
    stretches: Iterable[tuple[datetime, datetime | None]], start: datetime, end: datetime
) -> float:
    """Seconds within [start, end] covered by the stretches (overlaps counted once; a stretch
    still open runs to `end`)."""
    clipped = sorted(
        (max(joined, start), min(left or end, end))
        for joined, left in stretches
        if joined < end and (left or end) > start
    )
    total, reach = 0.0, start
    for joined, left in clipped:
        if left > reach:
            total += (left - max(joined, reach)).total_seconds()
            reach = left
    return total


def presence_by_member(session: Session, event: Event) -> dict[int, float]:
    """Each invited member's share of the meeting, from its start to its end (0 to 1)."""
    if event.started_at is None or event.ended_at is None:
        return {}
    length = (event.ended_at - event.started_at).total_seconds()
    stretches: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for row in session.scalars(
        select(Attendance).where(Attendance.event_id == event.id, Attendance.member_id.is_not(None))
    ):
        assert row.member_id is not None
        stretches[row.member_id].append((row.joined_at, row.left_at))
    return {
        member: (seconds_present(spans, event.started_at, event.ended_at) / length if length else 0)
        for member, spans in stretches.items()
    }


def award_attendance(session: Session, event: Event) -> list[CreditEntry]:
    """The event's credit hours to each member present for its attendance share; once each."""
    if event.credit_hours <= 0 or event.started_at is None:
        return []
    return [
        award_credit(
            session=session,
            member_id=member,
            source=LIVE,
            source_ref=f"event:{event.id}",
            award_key=f"event:{event.id}",
            hours=event.credit_hours,
            category=LIVE_EVENT,
            occurred_at=event.started_at,
            detail={"event": event.id, "title": event.title, "share": round(share, 3)},
        )
        for member, share in sorted(presence_by_member(session, event).items())
        if share >= event.attendance_share
    ]
