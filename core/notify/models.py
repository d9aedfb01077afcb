"""Notices and their deliveries: every notice is stored, and every attempt to carry it through a
channel is recorded next to it."""

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, CleanString, CleanText, UTCDateTime, utcnow


class DeliveryStatus(enum.StrEnum):
    """Where the delivery of a notice through one channel stands."""

    pending = "pending"  # a job will (try again to) send it
    delivered = "delivered"
    failed = "failed"  # given up: attempts used up, or refused for good
    skipped = "skipped"  # the recipient has no address for this channel


class Notice(Base):
    """A message to one user; the in-app channel is the row itself (read on the notices page)."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(CleanString(40))
    title: Mapped[str] = mapped_column(CleanString(200))
    body: Mapped[str] = mapped_column(CleanText, default="")
    # A path on this site ("/lessons/3") or empty; e-mail and SMS carry it as a full URL.
    link: Mapped[str] = mapped_column(CleanString(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    deliveries: Mapped[list["Delivery"]] = relationship(
        back_populates="notice", lazy="selectin", cascade="all, delete-orphan"
    )


class Delivery(Base):
    """A notice's journey through one channel: its state, attempts, last error and address."""

    __tablename__ = "notice_deliveries"
    __table_args__ = (UniqueConstraint("notice_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(CleanString(20))
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=20), index=True
    )
    address: Mapped[str] = mapped_column(CleanString(254), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(CleanText)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    notice: Mapped[Notice] = relationship(back_populates="deliveries")
