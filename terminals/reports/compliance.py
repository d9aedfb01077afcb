"""A site's monthly report card (月报卡): its duties under the region's rules, judged from what
the site did, and whom a shortfall is escalated to.

Pure rules over a month's evidence; the queries that gather the evidence live apart, so the
rules are tested without a database. A month still running is judged only as far as it has
gone: a study day not yet come, and the month's totals, are pending rather than short.
"""

import calendar
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from core.settings import get_settings


@dataclass(frozen=True)
class SiteRules:
    """The region's monthly duties of a site (DOMAIN.md "Site rules"; settings)."""

    study_days: tuple[int, ...] = (5, 15, 25)
    study_day_minutes: float = 90
    other_days_minutes: float = 180
    group_sessions: int = 2
    open_days: int = 4

    @classmethod
    def configured(cls) -> "SiteRules":
        """The rules as the settings give them."""
        settings = get_settings()
        return cls(
            study_days=settings.site_study_days,
            study_day_minutes=settings.site_study_day_minutes,
            other_days_minutes=settings.site_other_days_minutes,
            group_sessions=settings.site_group_sessions,
            open_days=settings.site_open_days,
        )


@dataclass(frozen=True)
class SiteMonth:
    """What a site did in one calendar month (local days), from stored evidence."""

    year: int
    month: int
    # Minutes of courseware played on each day (merged, so two players at once count once).
    minutes_by_day: Mapping[date, float] = field(default_factory=dict)
    group_sessions: int = 0
    # Days with any sign of the site being open: power-on, heartbeat, playback or a session.
    open_days: frozenset[date] = frozenset()


class Duty(enum.StrEnum):
    """One line of the report card."""

    study_day = "study_day"
    other_days = "other_days"
    group_sessions = "group_sessions"
    open_days = "open_days"


class Verdict(enum.StrEnum):
    """How a duty stands: met, short, or not yet due in a month still running."""

    met = "met"
    short = "short"
    pending = "pending"


@dataclass(frozen=True)
class DutyResult:
    """A duty, what it asks, what the site did, and the verdict; `day` for a study day."""

    duty: Duty
    required: float
    achieved: float
    verdict: Verdict
    day: date | None = None


@dataclass(frozen=True)
class ReportCard:
    """A site's month, duty by duty."""

    year: int
    month: int
    results: tuple[DutyResult, ...]

    @property
    def shortfalls(self) -> tuple[DutyResult, ...]:
        """The duties the site fell short of."""
        return tuple(result for result in self.results if result.verdict is Verdict.short)

    @property
    def compliant(self) -> bool:
        """No duty short (pending ones may still be met)."""
        return not self.shortfalls

    @property
    def score(self) -> float:
        """The share of judged duties met, 0 to 1 (1 when nothing is judged yet), for rankings."""
        judged = [result for result in self.results if result.verdict is not Verdict.pending]
        if not judged:
            return 1.0
        return sum(result.verdict is Verdict.met for result in judged) / len(judged)


def judge_month(evidence: SiteMonth, *, rules: SiteRules, as_of: date) -> ReportCard:
    """The report card of `evidence`'s month as it stands on `as_of` (a day of the month or
    any later day; a later day judges the whole month)."""
    last = calendar.monthrange(evidence.year, evidence.month)[1]
    month_over = as_of >= date(evidence.year, evidence.month, last)
    study_days = [
        date(evidence.year, evidence.month, day) for day in rules.study_days if day <= last
    ]
    results = [
        _judge(
            Duty.study_day,
            rules.study_day_minutes,
            evidence.minutes_by_day.get(day, 0.0),
            due=day <= as_of,
            day=day,
        )
        for day in study_days
    ]
    other_minutes = sum(
        minutes for day, minutes in evidence.minutes_by_day.items() if day not in study_days
    )
    results.append(_judge(Duty.other_days, rules.other_days_minutes, other_minutes, month_over))
    results.append(
        _judge(Duty.group_sessions, rules.group_sessions, evidence.group_sessions, month_over)
    )
    results.append(_judge(Duty.open_days, rules.open_days, len(evidence.open_days), month_over))
    return ReportCard(evidence.year, evidence.month, tuple(results))


def _judge(
    duty: Duty, required: float, achieved: float, due: bool, day: date | None = None
) -> DutyResult:
    verdict = Verdict.met if achieved >= required else Verdict.short if due else Verdict.pending
    return DutyResult(duty, float(required), round(float(achieved), 1), verdict, day)


class Level(enum.StrEnum):
    """Who hears of a site's shortfall: its administrators, the township, the county."""

    site = "site"
    township = "township"
    county = "county"


def escalation(short_months_in_a_row: int) -> tuple[Level, ...]:
    """Whom a shortfall reaches: the site's administrators the first month, the township too
    the second month in a row, the county from the third."""
    ladder = (Level.site, Level.township, Level.county)
    return ladder[: max(0, min(short_months_in_a_row, len(ladder)))]


def participation_rate(studied: int, sites: int) -> float:
    """参学率: the share of sites that studied in the period (0 when there are no sites)."""
    return round(studied / sites, 4) if sites else 0.0
