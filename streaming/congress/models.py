"""Live events (会议): a congress or a meeting of an organisation, held in a video room, with its
agenda, the members invited and the sites that join as sub-venues."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Enum, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, CleanString, CleanText, UTCDateTime, utcnow
from core.people.models import Member, Organisation
from streaming.congress.rules import Level


class EventKind(enum.StrEnum):
    meeting = "meeting"  # a branch's members' meeting, 组织生活会
    congress = "congress"  # 党代会 (the air party congress)


class EventStatus(enum.StrEnum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"
    cancelled = "cancelled"


CLOSED_EVENT = frozenset({EventStatus.ended, EventStatus.cancelled})
"""An event over: no one enters, asks or feeds it any more."""


class EventRole(enum.StrEnum):
    """What an invited member does in the room. The chair moderates; the presidium (主席团) sits
    with the chair; speakers are expected to take the floor; participants and speakers vote;
    observers (列席) follow without a vote."""

    chair = "chair"
    presidium = "presidium"
    speaker = "speaker"
    participant = "participant"
    observer = "observer"


VOTING_ROLES = frozenset(
    {EventRole.chair, EventRole.presidium, EventRole.speaker, EventRole.participant}
)


class Event(Base):
    """A scheduled congress or meeting of `org`, held in one room on one media node."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("planned_minutes BETWEEN 5 AND 1440", name="planned_minutes_range"),
        CheckConstraint("attendance_share > 0 AND attendance_share <= 1", name="share_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[EventKind] = mapped_column(Enum(EventKind, native_enum=False, length=20))
    level: Mapped[Level] = mapped_column(Enum(Level, native_enum=False, length=20))
    title: Mapped[str] = mapped_column(CleanString(200))
    description: Mapped[str] = mapped_column(CleanText, default="", server_default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    planned_minutes: Mapped[int] = mapped_column(default=120)
    # Study credit for attending: `credit_hours` to whoever is present for `attendance_share`
    # of the meeting (DOMAIN.md: 80%).
    credit_hours: Mapped[float] = mapped_column(Float, default=0.0)
    attendance_share: Mapped[float] = mapped_column(Float, default=0.8)
    status: Mapped[EventStatus] = mapped_column(
        Enum(EventStatus, native_enum=False, length=20), default=EventStatus.scheduled
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The course the recording joins as a lesson when the event ends (none: not kept).
    recording_course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"))
    # When the invited were reminded that it starts soon (once).
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The bearer token of the program feed's encoder (WHIP), kept as its SHA-256: it is shown
    # once when issued, and issuing another revokes it.
    whip_token_hash: Mapped[str | None] = mapped_column(String(64))
    whip_token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    org: Mapped[Organisation] = relationship(lazy="joined")
    agenda: Mapped[list["AgendaItem"]] = relationship(
        order_by="AgendaItem.position",
        lazy="selectin",
        cascade="all, delete-orphan",
    )
    invitations: Mapped[list["Invitation"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan"
    )
    venues: Mapped[list["SubVenue"]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class AgendaItem(Base):
    """One item of business (议程), in order."""

    __tablename__ = "event_agenda_items"
    __table_args__ = (UniqueConstraint("event_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(CleanString(200))


class Invitation(Base):
    """A member invited, in a role; one invitation per member and event."""

    __tablename__ = "event_invitations"
    __table_args__ = (UniqueConstraint("event_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    role: Mapped[EventRole] = mapped_column(Enum(EventRole, native_enum=False, length=20))

    member: Mapped[Member] = relationship(lazy="joined")


class SubVenue(Base):
    """A terminal site whose room joins as a sub-venue (分会场), with its own roll."""

    __tablename__ = "event_sub_venues"
    __table_args__ = (UniqueConstraint("event_id", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)


class Attendance(Base):
    """One stretch of a person's presence in the room, to the second: from admission (or their
    return after leaving) until they leave, are removed, or the meeting ends; for a member at a
    sub-venue, from the roll that names them until one that does not. A reconnect within the
    grace of a network blip continues the same stretch."""

    __tablename__ = "event_attendance"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # On a sub-venue's roll: the site whose room they were in.
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    name: Mapped[str] = mapped_column(CleanString(120))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LogEntry(Base):
    """A fact of the meeting as it happened (started, admitted, floor given, muted, agenda item
    taken up, ended, ...), in order: the minutes are written from these. Never changed."""

    __tablename__ = "event_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(CleanString(40))
    actor: Mapped[str] = mapped_column(CleanString(120), default="")
    subject: Mapped[str] = mapped_column(CleanString(120), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Motion(Base):
    """A motion put to the vote (表决), with the roll as it stood when the vote opened: those
    then present and entitled to vote are the only ones who may, and the count is against them.
    An anonymous motion keeps who voted and the totals, never who chose what."""

    __tablename__ = "event_motions"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(CleanString(200))
    agenda_position: Mapped[int | None] = mapped_column()
    anonymous: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # {"expected": n, "present": [member ids]} at the opening.
    roll: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The tally at the close: {"for", "against", "abstain", "not_voting", "present", "carried"}.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Who voted (for an open motion, with their choice: {"12": "for"}; anonymous: {"12": ""}).
    ballots: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class QuestionStatus(enum.StrEnum):
    """A viewer's question as the chair has dealt with it: waiting, on screen, taken off the
    screen after it was shown, or dismissed without being shown."""

    pending = "pending"
    on_screen = "on_screen"
    done = "done"
    dismissed = "dismissed"


class Question(Base):
    """A question a viewer of the broadcast sent in, for the chair to put on screen or dismiss.
    Each moderation is also in the audit log (who and when, every time)."""

    __tablename__ = "event_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Whom the rate limit counts: "u12" for a logged-in user, else a keyed hash of the address.
    asker: Mapped[str] = mapped_column(String(80), index=True)
    name: Mapped[str] = mapped_column(CleanString(60))
    text: Mapped[str] = mapped_column(CleanString(300))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[QuestionStatus] = mapped_column(
        Enum(QuestionStatus, native_enum=False, length=20), default=QuestionStatus.pending
    )
    # The latest moderation (the audit log keeps each one).
    moderated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
