"""Attendance to credit: time present is counted once however the stretches overlap, clipped
to the meeting; members present for the event's share earn its hours, once."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Member
from streaming.congress.attendance import award_attendance, presence_by_member, seconds_present
from streaming.congress.models import Attendance, EventStatus
from terminals.credits.models import CreditEntry
from tests.streaming.test_events import schedule

T0 = datetime(2030, 1, 1, 1, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_seconds_present_merges_overlaps_and_clips_to_the_meeting() -> None:
    start, end = at(0), at(100)
    assert seconds_present([(at(-10), at(30)), (at(20), at(50))], start, end) == 50 * 60
    assert seconds_present([(at(90), None)], start, end) == 10 * 60  # still in at the end
    assert seconds_present([(at(110), at(120)), (at(-20), at(-5))], start, end) == 0
    assert seconds_present([], start, end) == 0


def test_members_present_for_the_share_earn_the_hours_once(
    session: Session, tree: Any, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people, credit_hours=2.0)
    event.started_at, event.ended_at, event.status = at(0), at(100), EventStatus.ended
    stretches = {
        "chair": [(at(-5), at(105))],  # all of it
        "ma": [(at(0), at(30)), (at(35), at(85))],  # 80 of 100 minutes, after a drop: enough
        "niu": [(at(0), at(79))],  # 79%: not enough
    }
    for login, spans in stretches.items():
        for joined, left in spans:
            member = people[login]
            session.add(
                Attendance(
                    event_id=event.id,
                    member_id=member.id,
                    name=member.name,
                    joined_at=joined,
                    left_at=left,
                )
            )
    session.flush()
    shares = presence_by_member(session, event)
    assert round(shares[people["ma"].id], 2) == 0.8 and round(shares[people["niu"].id], 2) == 0.79
    award_attendance(session, event)
    award_attendance(session, event)  # again: nothing more
    entries = session.scalars(select(CreditEntry).order_by(CreditEntry.member_id)).all()
    assert [(e.member_id, e.hours, e.category) for e in entries] == [
        (people["chair"].id, 2.0, "live"),
        (people["ma"].id, 2.0, "live"),
    ]
    assert entries[0].award_key == f"event:{event.id}"
