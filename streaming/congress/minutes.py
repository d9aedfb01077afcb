"""The minutes of a meeting (会议记录), made from its record: attendance to the second, the
agenda as it was taken up, who spoke and for how long, every vote with its roll and result, and
the log of everything else. The record is never changed, so the minutes read the same each
time they are made."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from streaming.congress.attendance import seconds_present
from streaming.congress.models import VOTING_ROLES, Attendance, Event, LogEntry, Motion
from terminals.sites.models import Site


@dataclass
class Presence:
    name: str
    role: str | None  # the invitation's role; "venue" for a sub-venue itself, "at_venue" for a
    # member on its roll not invited; None for a moderator not invited
    first_in: datetime | None
    last_out: datetime | None
    seconds: float
    share: float
    credited: bool
    venues: list[str] = field(default_factory=list)  # the sub-venues whose roll named them


@dataclass
class Turn:
    """One turn at the floor."""

    name: str
    began: datetime
    ended: datetime | None


@dataclass
class Minutes:
    event: Event
    presence: list[Presence]
    expected: int
    present: int
    agenda_taken: dict[int, datetime] = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)
    motions: list[Motion] = field(default_factory=list)
    voters: dict[str, str] = field(default_factory=dict)  # member id -> name, for open ballots
    log: list[LogEntry] = field(default_factory=list)


def make_minutes(session: Session, event: Event) -> Minutes:
    """The minutes of `event` from what its record holds now (a meeting still running gives
    the minutes so far)."""
    rows = list(
        session.scalars(
            select(Attendance).where(Attendance.event_id == event.id).order_by(Attendance.id)
        )
    )
    log = list(
        session.scalars(select(LogEntry).where(LogEntry.event_id == event.id).order_by(LogEntry.id))
    )
    motions = list(
        session.scalars(select(Motion).where(Motion.event_id == event.id).order_by(Motion.id))
    )
    sites = {
        site.id: site.name
        for site in session.scalars(select(Site).where(Site.id.in_({r.site_id for r in rows})))
    }
    roles = {i.member_id: i.role for i in event.invitations}
    names = {i.member_id: i.member.name for i in event.invitations}
    start = event.started_at
    end = event.ended_at
    presence = []
    for key in dict.fromkeys((row.member_id, row.name) for row in rows):
        member_id, name = key
        mine = [r for r in rows if (r.member_id, r.name) == key]
        spans = [(r.joined_at, r.left_at) for r in mine]
        seconds = seconds_present(spans, start, end) if start and end else 0.0
        length = (end - start).total_seconds() if start and end else 0.0
        share = seconds / length if length else 0.0
        role = roles.get(member_id) if member_id is not None else None
        venues = list(dict.fromkeys(sites[r.site_id] for r in mine if r.site_id))
        if role is not None:
            shown: str | None = role.value
        elif venues:
            shown = "at_venue" if member_id is not None else "venue"
        else:
            shown = None
        presence.append(
            Presence(
                name=name,
                role=shown,
                first_in=min(joined for joined, _ in spans),
                last_out=max((left for _, left in spans if left), default=None),
                seconds=seconds,
                share=share,
                credited=member_id is not None
                and event.credit_hours > 0
                and share >= event.attendance_share,
                venues=venues if member_id is not None else [],
            )
        )
    present_members = {row.member_id for row in rows if row.member_id is not None}
    excused = _excused(log)
    voting = [m for m, role in roles.items() if role in VOTING_ROLES and m not in excused]
    return Minutes(
        event=event,
        presence=presence,
        expected=len(voting),
        present=len(present_members & set(voting)),
        agenda_taken=_agenda_taken(log),
        turns=_turns(log),
        motions=motions,
        voters={str(member): name for member, name in names.items()},
        log=log,
    )


def _excused(log: list[LogEntry]) -> set[int]:
    """Members left out of 应到 by the meeting's consent (the last word on each counts)."""
    excused: set[int] = set()
    for entry in log:
        if entry.kind == "excused":
            excused.add(int(entry.detail["member"]))
        elif entry.kind == "excuse_withdrawn":
            excused.discard(int(entry.detail["member"]))
    return excused


def _agenda_taken(log: list[LogEntry]) -> dict[int, datetime]:
    taken: dict[int, datetime] = {}
    for entry in log:
        if entry.kind == "agenda":
            taken.setdefault(int(entry.detail["position"]), entry.at)
    return taken


def _turns(log: list[LogEntry]) -> list[Turn]:
    """Turns at the floor: each ends when the floor is given again, taken back, or the
    meeting ends."""
    turns: list[Turn] = []
    for entry in log:
        ends_a_turn = entry.kind in ("floor_given", "floor_taken_back", "ended")
        if ends_a_turn and turns and turns[-1].ended is None:
            turns[-1].ended = entry.at
        if entry.kind == "floor_given":
            turns.append(Turn(entry.subject, entry.at, None))
    return turns
