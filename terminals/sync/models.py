"""What the sync protocol keeps: heartbeats, the size and digest of every file a site downloads,
the records agents upload (each stored once), the days they fall on, and how far each agent's
records are stored."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, CleanString, UTCDateTime, utcnow


class SiteHeartbeat(Base):
    """One heartbeat of a site's agent, kept as history for the site's page; the newest also
    moves SiteDevice.last_seen_at (presence.py decides online or offline from it)."""

    __tablename__ = "site_heartbeats"
    __table_args__ = (Index("ix_site_heartbeats_site_received", "site_id", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("site_devices.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The agent's own clock: when it was sent (for an uploaded record, when it was recorded).
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    powered_on_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    now_playing: Mapped[int | None] = mapped_column()  # a lesson id
    disk_free_bytes: Mapped[int | None] = mapped_column(BigInteger)
    agent_version: Mapped[str] = mapped_column(CleanString(40), default="")
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LessonFile(Base):
    """The size and SHA-256 of one object a site downloads for a lesson (a rendition's playlist,
    init section and segments, captions, poster), computed once. `stamp` names the version of
    the lesson (or caption) it was computed for: a new transcode or caption makes it stale."""

    __tablename__ = "lesson_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(CleanString(400), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(CleanString(64))
    stamp: Mapped[str] = mapped_column(CleanString(80))
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SiteRecord(Base):
    """A record an agent wrote to its outbox (heartbeat, session, attendance, interval, frame),
    stored exactly once: its site-generated UUID is unique, and so is its place in the agent's
    sequence. The body is kept as sent (validated per kind) for the credit rules to read."""

    __tablename__ = "site_records"
    __table_args__ = (
        UniqueConstraint("site_id", "agent_id", "seq"),
        Index("ix_site_records_site_kind_occurred", "site_id", "kind", "occurred_at"),
        Index("ix_site_records_site_session", "site_id", "session_uuid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(CleanString(36), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    # The agent installation that numbered the record (a UUID kept in the agent's directory;
    # it outlives token rotation, so its sequence goes on across re-enrolment).
    agent_id: Mapped[str] = mapped_column(CleanString(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(CleanString(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("site_devices.id", ondelete="SET NULL")
    )
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The group session the body names (`session_id`), if any, as sent: a session is rebuilt
    # from its records, found by this column's index rather than by reading every body.
    session_uuid: Mapped[str | None] = mapped_column(CleanString(36))
    # SHA-256 of the canonical record (kind, seq, time, body): a replay must match it.
    digest: Mapped[str] = mapped_column(CleanString(64))
    # Server time minus the agent's clock when the batch was sent: lets readers correct times.
    clock_offset_seconds: Mapped[float] = mapped_column(default=0.0)
    # "future" when occurred_at lay beyond the allowed clock skew on arrival: stored, not trusted.
    flag: Mapped[str | None] = mapped_column(CleanString(20))
    # An interval record's body, typed at intake (null for other kinds): a session's rebuild and
    # the reports read hundreds of intervals at a time, and these spare them parsing each JSON.
    lesson_id: Mapped[int | None] = mapped_column()
    media_start: Mapped[float | None] = mapped_column()
    media_end: Mapped[float | None] = mapped_column()
    rate: Mapped[float | None] = mapped_column()
    # When the interval began by the agent's clock, in POSIX seconds (the body's `started_at`).
    wall_start: Mapped[float | None] = mapped_column()


class SiteRecordDay(Base):
    """A local day (UTC+8) of a site with a counter that every batch adding records to the day
    or to either day beside it (by `occurred_at`) moves on: what a day's figures are made from
    (the reports' daily rollup reads the records within a day of it, since an interval may cross
    midnight). Figures keep the counter they were made from: once a late or new record moves
    it, they are stale."""

    __tablename__ = "site_record_days"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=1)


class AgentMark(Base):
    """The high-water mark of one agent: every record of its sequence up to here is stored."""

    __tablename__ = "sync_agent_marks"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[str] = mapped_column(CleanString(36), primary_key=True)
    high_water: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
