"""A site's monthly report card under the region's rules, and whom a shortfall reaches."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terminals.reports.compliance import (
    Duty,
    DutyResult,
    Level,
    SiteMonth,
    SiteRules,
    Verdict,
    escalation,
    judge_month,
    participation_rate,
)

pytestmark = pytest.mark.engine_neutral

RULES = SiteRules()


def _verdicts(card_results: tuple[DutyResult, ...]) -> dict[str, str]:
    return {
        f"{r.duty}{'@' + str(r.day.day) if r.day else ''}": r.verdict.value for r in card_results
    }


def test_a_month_that_meets_every_duty() -> None:
    minutes = {date(2026, 3, d): 95.0 for d in (5, 15, 25)} | {date(2026, 3, 10): 180.0}
    month = SiteMonth(
        2026,
        3,
        minutes_by_day=minutes,
        group_sessions=2,
        open_days=frozenset(minutes),
    )
    card = judge_month(month, rules=RULES, as_of=date(2026, 4, 2))
    assert card.compliant and card.score == 1.0
    assert {r.verdict for r in card.results} == {Verdict.met}


def test_short_study_days_sessions_and_opening_are_named() -> None:
    minutes = {date(2026, 3, 5): 89.0, date(2026, 3, 15): 120.0, date(2026, 3, 6): 100.0}
    month = SiteMonth(2026, 3, minutes, group_sessions=1, open_days=frozenset(minutes))
    card = judge_month(month, rules=RULES, as_of=date(2026, 3, 31))
    assert _verdicts(card.results) == {
        "study_day@5": "short",
        "study_day@15": "met",
        "study_day@25": "short",
        "other_days": "short",
        "group_sessions": "short",
        "open_days": "short",
    }
    assert card.score == 1 / 6 and not card.compliant
    other = next(r for r in card.results if r.duty is Duty.other_days)
    assert (other.required, other.achieved) == (180.0, 100.0)


def test_a_running_month_judges_only_what_has_come() -> None:
    minutes = {date(2026, 3, 5): 90.0}
    month = SiteMonth(2026, 3, minutes, open_days=frozenset(minutes))
    card = judge_month(month, rules=RULES, as_of=date(2026, 3, 16))
    assert _verdicts(card.results) == {
        "study_day@5": "met",
        "study_day@15": "short",
        "study_day@25": "pending",
        "other_days": "pending",
        "group_sessions": "pending",
        "open_days": "pending",
    }
    assert card.score == 0.5


def test_other_regions_days_and_short_months() -> None:
    rules = SiteRules(study_days=(6, 16, 26, 31))
    card = judge_month(SiteMonth(2026, 2, {}), rules=rules, as_of=date(2026, 3, 1))
    assert [r.day for r in card.results if r.day] == [date(2026, 2, d) for d in (6, 16, 26)]


@given(st.integers(min_value=0, max_value=10))
def test_escalation_climbs_one_level_a_month_and_stops_at_the_county(months: int) -> None:
    levels = escalation(months)
    assert len(levels) == min(months, 3)
    assert list(levels) == [Level.site, Level.township, Level.county][: len(levels)]


def test_participation_rate() -> None:
    assert participation_rate(3, 4) == 0.75
    assert participation_rate(0, 0) == 0.0
