"""The durable record of a background job."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, Integer
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, CleanString, CleanText, UTCDateTime, utcnow


class JobStatus(enum.StrEnum):
    """Where a background job stands."""

    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class Job(Base):
    """A background job's durable record: the queue carries its id, this row holds its state."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(CleanString(80), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=20), default=JobStatus.queued, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float] = mapped_column(default=0.0)
    error: Mapped[str | None] = mapped_column(CleanText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Outbox: a queued job whose hand-off to the queue is older than a grace period (a failed
    # enqueue, a crash between commit and enqueue) is handed over again by the sweeper.
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A job waiting out its retry backoff is not due before this time.
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecurringRun(Base):
    """When a recurring task (core/jobs/schedule.py) was last claimed: the claim is one UPDATE,
    so of many workers exactly one runs each period."""

    __tablename__ = "recurring_runs"

    name: Mapped[str] = mapped_column(CleanString(80), primary_key=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(CleanText)
