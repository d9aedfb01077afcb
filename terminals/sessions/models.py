"""Rows projected from a site's uploaded records: group sessions, their roll calls, what each
played, and proof-of-play frames. Everything here can be rebuilt from site_records."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, CleanString, UTCDateTime, utcnow


class GroupSession(Base):
    """A group session (集中学习) at a site, known by the UUID its agent gave it. Times are server
    times (the agent's clock corrected by its offset); a session seen only through its roll call
    or intervals so far has no start yet."""

    __tablename__ = "site_sessions"
    __table_args__ = (Index("ix_site_sessions_site_started", "site_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    uuid: Mapped[str] = mapped_column(CleanString(36), unique=True)
    title: Mapped[str] = mapped_column(CleanString(200), default="")
    administrator: Mapped[str] = mapped_column(CleanString(200), default="")
    lesson_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    expected: Mapped[int | None] = mapped_column()  # 应到, as the agent's roster counted it
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Seconds of wall time in which something was played (union of accepted intervals).
    played_seconds: Mapped[float] = mapped_column(default=0.0)
    # Records of the session left out as implausible (future times), for the page to say so.
    distrusted: Mapped[int] = mapped_column(default=0)
    # Whether every record the agent wrote before ending the session is stored (its high-water
    # mark reached the "ended" record): only then are credits awarded, so they never depend on
    # which records happened to arrive first.
    complete: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    attendance: Mapped[list["SessionAttendance"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="SessionAttendance.checked_in_at"
    )
    played: Mapped[list["SessionLesson"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="SessionLesson.first_played_at"
    )


class SessionAttendance(Base):
    """One member on a session's roll call (实到): how and when they checked in (and out), and
    for how many seconds of the session's played time they were present."""

    __tablename__ = "site_session_attendance"
    __table_args__ = (UniqueConstraint("session_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("site_sessions.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(CleanString(20))
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    present_seconds: Mapped[float] = mapped_column(default=0.0)
    # Whether presence reached the threshold (so the member earns the session's lessons).
    qualified: Mapped[bool] = mapped_column(default=False)


class SessionLesson(Base):
    """What a session played of one lesson: merged media intervals, wall times, coverage."""

    __tablename__ = "site_session_lessons"
    __table_args__ = (UniqueConstraint("session_id", "lesson_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("site_sessions.id", ondelete="CASCADE"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    media: Mapped[list[list[float]]] = mapped_column(JSON, default=list)  # merged [start, end)
    # Wall-time spans (server time, ISO strings) in which the lesson played: the playback log.
    spans: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    first_played_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_played_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    coverage: Mapped[float] = mapped_column(default=0.0)  # merged media / lesson duration


class SiteFrame(Base):
    """A proof-of-play frame: a JPEG taken from the played video, kept in object storage."""

    __tablename__ = "site_frames"
    __table_args__ = (Index("ix_site_frames_site_session", "site_id", "session_uuid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_uuid: Mapped[str] = mapped_column(CleanString(36), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    session_uuid: Mapped[str] = mapped_column(CleanString(36))
    lesson_id: Mapped[int | None] = mapped_column()
    position: Mapped[float] = mapped_column(default=0.0)
    mark: Mapped[str] = mapped_column(CleanString(20), default="")
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # sites/{site_id}/frames/{uuid}.jpg, or None while the picture's bytes have not arrived.
    key: Mapped[str | None] = mapped_column(CleanString(200))
    size: Mapped[int] = mapped_column(default=0)
    sha256: Mapped[str] = mapped_column(CleanString(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
