"""A member's playback session of one lesson, the beats the player sends in it, and what the
server has credited of them.

Beats are stored as received (once per session and sequence number); what they earn is derived
from the stored beats alone, so it is the same whatever order, however often, they arrive.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, CleanString, UTCDateTime, utcnow


class PlaybackSession(Base):
    """One play of one lesson by one member, under a server-issued id (the beat's credential,
    together with the login session it was issued to). One is active per member at a time."""

    __tablename__ = "playback_sessions"
    __table_args__ = (Index("ix_playback_sessions_member_lesson", "member_id", "lesson_id"),)

    # 128 random bits, hex: unguessable, so it also proves the beat comes from the page it was
    # given to.
    id: Mapped[str] = mapped_column(CleanString(32), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # A digest of the login session's token the id was issued to: a beat sent under any other
    # login session (another browser, after a logout) is refused.
    login_binding: Mapped[str] = mapped_column(CleanString(64))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    # The lesson's length when the session began: intervals past it are refused.
    duration: Mapped[float] = mapped_column()
    # The credit year (in the credit time zone) the session's study counts for.
    year: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it ended: "replaced" (another session began), "closed" (the player said so).
    end_reason: Mapped[str] = mapped_column(CleanString(20), default="", server_default="")
    # Derived from the stored beats (rules.credit_beats): the highest sequence number stored,
    # the client clock at it, and the seconds of media played and credited so far.
    last_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    last_clock: Mapped[float] = mapped_column(default=0.0, server_default="0")
    played_seconds: Mapped[float] = mapped_column(default=0.0, server_default="0")
    credited_seconds: Mapped[float] = mapped_column(default=0.0, server_default="0")
    last_beat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_position: Mapped[float] = mapped_column(default=0.0, server_default="0")


class PlaybackBeat(Base):
    """What the player reported at one beat: media intervals played since its previous beat,
    its clock (seconds since the session was issued), position, rate and whether the page stayed
    visible. `credited` is the part the rules accept."""

    __tablename__ = "playback_beats"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("playback_sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The client's seconds since the session was issued, capped at the server's own count.
    clock: Mapped[float] = mapped_column()
    event: Mapped[str] = mapped_column(CleanString(20), default="tick")
    position: Mapped[float] = mapped_column()
    rate: Mapped[float] = mapped_column()
    visible: Mapped[bool] = mapped_column()
    intervals: Mapped[list[Any]] = mapped_column(JSON, default=list)
    credited: Mapped[list[Any]] = mapped_column(JSON, default=list)


class LessonProgress(Base):
    """A member's merged, credited coverage of a lesson in a credit year, across sessions."""

    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("member_id", "lesson_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    year: Mapped[int] = mapped_column()
    covered: Mapped[list[Any]] = mapped_column(JSON, default=list)
    covered_seconds: Mapped[float] = mapped_column(default=0.0)
    duration: Mapped[float] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
