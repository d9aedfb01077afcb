"""The credit ledger: one row per credit given or taken back, never changed once written.

An award names what it is for in `award_key` ("lesson:12", "live:3"); the unique constraint on
(member, year, award_key) is what makes "a lesson is credited once a year" hold under any race.
Corrections have no award key; they point at the entry they correct and carry reason and author.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, CleanString, CleanText, UTCDateTime, utcnow


class CreditEntry(Base):
    """Hours given (positive) or taken back (negative) to a member in a credit year."""

    __tablename__ = "credit_entries"
    __table_args__ = (
        UniqueConstraint("member_id", "year", "award_key"),
        Index("ix_credit_entries_year_member", "year", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    year: Mapped[int] = mapped_column()
    # web (the web player), site (a group session), live (a live event), correction.
    source: Mapped[str] = mapped_column(CleanString(20))
    # What in the source: "session:<playback session id>", "group:<id>", "event:<id>".
    source_ref: Mapped[str] = mapped_column(CleanString(80), default="")
    award_key: Mapped[str | None] = mapped_column(CleanString(80))
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"))
    # The daily-cap category: online, group, live (settings.credit_daily_caps).
    category: Mapped[str] = mapped_column(CleanString(20))
    hours: Mapped[float] = mapped_column()
    # When the study happened (the award's moment); recorded_at is when the row was written.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("credit_entries.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(CleanText, default="")
    # Facts behind the figure: coverage, hours asked before a daily cap, etc.
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
