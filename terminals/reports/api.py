"""JSON API of the reports: a month's cards for an admin's subtree, one site's card, and the
month's rankings. The month defaults to the running one (local time)."""

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from core.api import MAX_ID, CurrentUser, RowId, SessionDep, verify_csrf
from core.db import utcnow
from core.errors import NotFound
from core.i18n import N_
from core.localtime import local_date
from core.people.api import AdminUser
from terminals.reports.cards import CardView, cards_of, check_month, get_reported_site, month_report
from terminals.reports.rankings import rankings
from terminals.reports.schemas import CardRead, MonthReportRead, RankingsRead

router = APIRouter(prefix="/api/reports", dependencies=[Depends(verify_csrf)], tags=["reports"])
YearQuery = Annotated[int | None, Query(ge=2000, le=2100)]
MonthQuery = Annotated[int | None, Query(ge=1, le=12)]
OrgQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
TierQuery = Annotated[str | None, Query(min_length=1, max_length=40)]


def chosen_month(year: int | None, month: int | None) -> tuple[int, int]:
    """The month asked for, the running one by default (a year alone is not a month)."""
    today = local_date(utcnow())
    chosen = (year or today.year, month or today.month)
    check_month(*chosen)
    return chosen


def card_read(card: CardView) -> CardRead:
    return CardRead.model_validate({**asdict(card)})


@router.get("/cards", response_model=MonthReportRead)
def cards_index(
    session: SessionDep,
    actor: AdminUser,
    year: YearQuery = None,
    month: MonthQuery = None,
    org_id: OrgQuery = None,
    tier: TierQuery = None,
) -> Any:
    """Every site with duties in the caller's subtree and its card for the month."""
    chosen = chosen_month(year, month)
    report = month_report(
        session, actor, *chosen, today=local_date(utcnow()), org_id=org_id, tier=tier
    )
    return MonthReportRead(
        year=report.year,
        month=report.month,
        closed=report.closed,
        sites=report.sites,
        compliant=report.compliant,
        studied=report.studied,
        participation_rate=report.participation_rate,
        cards=[card_read(card) for card in report.cards],
    )


@router.get("/sites/{site_id}/card", response_model=CardRead)
def card_show(
    site_id: RowId,
    session: SessionDep,
    actor: CurrentUser,
    year: YearQuery = None,
    month: MonthQuery = None,
) -> Any:
    """One site's card for the month: for those who manage the site and its administrators."""
    site = get_reported_site(session, actor, site_id)
    chosen = chosen_month(year, month)
    return card_read(cards_of(session, [site], *chosen, today=local_date(utcnow()))[0])


@router.get("/rankings", response_model=RankingsRead)
def rankings_show(
    session: SessionDep,
    actor: AdminUser,
    year: YearQuery = None,
    month: MonthQuery = None,
    org_id: OrgQuery = None,
    tier: TierQuery = None,
) -> Any:
    """Sites ranked by card score then minutes; the organisations directly under `org_id`
    (the caller's highest by default) by participation rate then members' credit hours."""
    chosen = chosen_month(year, month)
    found = rankings(session, actor, *chosen, today=local_date(utcnow()), org_id=org_id, tier=tier)
    if found is None:
        raise NotFound(N_("You administer no organisation."))
    return RankingsRead.model_validate(
        {
            **asdict(found),
            "sites": [{"rank": row.rank, "card": card_read(row.card)} for row in found.sites],
        }
    )
