"""What the reports keep: each site's report card for a month that is over, stored once so the
month's report, rankings and escalation read one row per site instead of the month's records;
and each site's figures per day, so the running month's cards add up days instead of reading
every record of the month."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, UniqueConstraint
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


class SiteDayFigures(Base):
    """What a site's records say of one local day: minutes of courseware played (merged) and the
    group sessions started. Made from the records that can bear on the day (those within a day
    of it, terminals.reports.evidence); `source` is the day's counter (terminals.sync
    SiteRecordDay, which a record on the day or either day beside it moves on) when the figures
    were made: once it has moved, they are made again."""

    __tablename__ = "site_day_figures"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    minutes: Mapped[float] = mapped_column(default=0.0)
    # The sessions started: how many, and their ids (read only when there are some, as a month
    # counts each session once).
    started: Mapped[int] = mapped_column(default=0)
    sessions: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[int] = mapped_column(BigInteger)
