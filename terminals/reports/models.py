"""What the reports keep: each site's report card for a month that is over, stored once so the
month's report, rankings and escalation read one row per site instead of the month's records."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow


class SiteReportCard(Base):
    """A site's month as judged when the month closed (月报卡). `results` holds each duty with
    what it asked, what the site did and the verdict; the totals are kept in columns so a
    month's ranking is one indexed scan. `short_in_a_row` counts this and the consecutive
    months before it with a duty short (0 when compliant): it decides whom the notice reaches."""

    __tablename__ = "site_report_cards"
    __table_args__ = (
        UniqueConstraint("site_id", "year", "month"),
        Index("ix_site_report_cards_month_score", "year", "month", "score", "minutes"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column()
    month: Mapped[int] = mapped_column()
    score: Mapped[float] = mapped_column()
    compliant: Mapped[bool] = mapped_column()
    minutes: Mapped[float] = mapped_column()
    group_sessions: Mapped[int] = mapped_column()
    open_days: Mapped[int] = mapped_column()
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    short_in_a_row: Mapped[int] = mapped_column(default=0)
    # Which levels were told of a shortfall (["site", "township"]), empty when none was.
    escalated_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
