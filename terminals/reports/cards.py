"""Report cards of sites: stored once a month is over (by the monthly task, which also escalates
shortfalls), computed live for the month still running; a month's cards for an admin's subtree
and the participation rate (参学率) of those sites."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer, joinedload, load_only

from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.people.models import Organisation, User
from core.people.service import get_managed_org
from core.settings import get_settings
from terminals.reports.compliance import (
    DutyResult,
    ReportCard,
    SiteRules,
    judge_month,
    participation_rate,
)
from terminals.reports.evidence import site_months
from terminals.reports.models import SiteReportCard
from terminals.sites.models import Site, SiteStatus
from terminals.sites.permissions import can_see_site, managed_sites

# Sites with duties: approved or running (a registered site is not yet built; a suspended one
# is off the air).
DUTY_STATUSES = (SiteStatus.approved, SiteStatus.active)


@dataclass(frozen=True)
class CardView:
    """A site's card for a month as pages, the API and exports show it."""

    site_id: int
    code: str
    name: str
    tier: str
    org_id: int
    org_name: str
    year: int
    month: int
    closed: bool
    score: float
    compliant: bool
    minutes: float
    group_sessions: int
    open_days: int
    results: list[dict[str, Any]]
    short_in_a_row: int = 0

    @property
    def short_duties(self) -> list[str]:
        return [result["duty"] for result in self.results if result["verdict"] == "short"]


def check_month(year: int, month: int) -> None:
    """A month that can be reported on (1..12 of a plausible year)."""
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        raise InvalidInput(N_("There is no month %(year)s-%(month)s."), year=year, month=month)


def previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def month_over(year: int, month: int, today: date) -> bool:
    return (today.year, today.month) > (year, month)


def result_rows(card: ReportCard) -> list[dict[str, Any]]:
    """The card's duties as JSON-ready rows."""
    return [_result_row(result) for result in card.results]


def _result_row(result: DutyResult) -> dict[str, Any]:
    return {
        "duty": result.duty.value,
        "required": result.required,
        "achieved": result.achieved,
        "verdict": result.verdict.value,
        "day": result.day.isoformat() if result.day else None,
    }


def _view(
    site: Site,
    card: SiteReportCard | None,
    live: ReportCard | None,
    minutes: float,
    sessions: int,
    days: int,
    *,
    closed: bool,
) -> CardView:
    base: dict[str, Any] = {
        "site_id": site.id,
        "code": site.code,
        "name": site.name,
        "tier": site.tier,
        "org_id": site.org_id,
        "org_name": site.org.name,
        "closed": closed,
    }
    if card is not None:
        return CardView(
            **base,
            year=card.year,
            month=card.month,
            score=card.score,
            compliant=card.compliant,
            minutes=card.minutes,
            group_sessions=card.group_sessions,
            open_days=card.open_days,
            results=card.results,
            short_in_a_row=card.short_in_a_row,
        )
    assert live is not None
    return CardView(
        **base,
        year=live.year,
        month=live.month,
        score=round(live.score, 4),
        compliant=live.compliant,
        minutes=round(minutes, 1),
        group_sessions=sessions,
        open_days=days,
        results=result_rows(live),
    )


def judge_sites(
    session: Session, sites: list[Site], year: int, month: int, *, today: date
) -> dict[int, tuple[ReportCard, float, int, int]]:
    """Each site's card judged from its evidence as of `today`, with minutes, group sessions
    and open days."""
    rules = SiteRules.configured()
    months = site_months(session, [site.id for site in sites], year, month)
    judged = {}
    for site in sites:
        evidence = months[site.id]
        card = judge_month(evidence, rules=rules, as_of=today)
        judged[site.id] = (
            card,
            sum(evidence.minutes_by_day.values()),
            evidence.group_sessions,
            len(evidence.open_days),
        )
    return judged


def cards_of(
    session: Session, sites: list[Site], year: int, month: int, *, today: date
) -> list[CardView]:
    """The month's card of each site: the stored one once the month is closed, else judged
    live (a month over whose card the task has not stored yet is judged as over)."""
    closed = month_over(year, month, today)
    stored: dict[int, SiteReportCard] = {}
    if closed and sites:
        stored = {
            card.site_id: card
            for card in session.scalars(
                select(SiteReportCard)
                .where(
                    SiteReportCard.year == year,
                    SiteReportCard.month == month,
                    SiteReportCard.site_id.in_([site.id for site in sites]),
                )
                .options(defer(SiteReportCard.escalated_to, raiseload=True))
            )
        }
    missing = [site for site in sites if site.id not in stored]
    judged = judge_sites(session, missing, year, month, today=today) if missing else {}
    views = []
    for site in sites:
        if site.id in stored:
            views.append(_view(site, stored[site.id], None, 0, 0, 0, closed=closed))
        else:
            card, minutes, sessions, days = judged[site.id]
            views.append(_view(site, None, card, minutes, sessions, days, closed=closed))
    return views


def scoped_sites(
    session: Session,
    actor: User,
    *,
    org_id: int | None = None,
    tier: str | None = None,
) -> list[Site]:
    """Sites with duties that the actor manages, narrowed to an org's subtree and a tier."""
    if tier is not None and tier not in get_settings().site_tiers:
        raise InvalidInput(N_("There is no site tier %(tier)s."), tier=tier)
    query = (
        select(Site)
        .join(Organisation, Organisation.id == Site.org_id)
        .where(managed_sites(actor), Site.status.in_(DUTY_STATUSES))
        .order_by(Site.code)
        # A card names its site and org only: the rest of a site (its JSON inventories) is not
        # read for thousands of sites, and touching it raises rather than loads site by site.
        .options(
            load_only(Site.id, Site.code, Site.name, Site.tier, Site.org_id, raiseload=True),
            joinedload(Site.org).load_only(Organisation.id, Organisation.name, raiseload=True),
        )
    )
    if org_id is not None:
        org = get_managed_org(session=session, actor=actor, org_id=org_id)
        query = query.where(Organisation.path.startswith(org.path))
    if tier is not None:
        query = query.where(Site.tier == tier)
    return list(session.scalars(query).unique())


def get_reported_site(session: Session, actor: User | None, site_id: int) -> Site:
    """A site whose card the actor may read (its managers and its administrators)."""
    site = session.get(Site, site_id)
    if site is None or not can_see_site(actor, site):
        raise NotFound(N_("Site %(id)s not found."), id=site_id)
    return site


@dataclass(frozen=True)
class MonthReport:
    """A month's cards for a scope, and how many sites met every duty or studied at all."""

    year: int
    month: int
    closed: bool
    cards: list[CardView]

    @property
    def sites(self) -> int:
        return len(self.cards)

    @property
    def compliant(self) -> int:
        return sum(card.compliant for card in self.cards)

    @property
    def studied(self) -> int:
        return sum(card.minutes > 0 for card in self.cards)

    @property
    def participation_rate(self) -> float:
        """参学率: the share of the scope's sites that played any courseware in the month."""
        return participation_rate(self.studied, self.sites)

    def duty_counts(self) -> dict[str, dict[str, int]]:
        """For each duty (study days together), how many sites met, fell short, are pending."""
        counts: dict[str, dict[str, int]] = {}
        for card in self.cards:
            for result in card.results:
                row = counts.setdefault(result["duty"], {"met": 0, "short": 0, "pending": 0})
                row[result["verdict"]] += 1
        return counts


def month_report(
    session: Session,
    actor: User,
    year: int,
    month: int,
    *,
    today: date,
    org_id: int | None = None,
    tier: str | None = None,
) -> MonthReport:
    """The month's report for the actor's subtree."""
    check_month(year, month)
    sites = scoped_sites(session, actor, org_id=org_id, tier=tier)
    return MonthReport(
        year=year,
        month=month,
        closed=month_over(year, month, today),
        cards=cards_of(session, sites, year, month, today=today),
    )
