"""Pages of the reports: the month's report cards of an admin's subtree (with 参学率 and a
chart), one site's card, the rankings (动态排名), their exports, and the site administrator's
own card under /site."""

import re
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from core.api import CurrentUser, RowId, SessionDep
from core.db import utcnow
from core.errors import NotFound, PermissionDenied
from core.i18n import N_, gettext
from core.localtime import local_date
from core.people.api import AdminUser, reader_locale
from core.people.forms import admin_page, optional_id, render
from core.people.orgs import org_tree
from core.settings import get_settings
from core.spreadsheet import Cell
from terminals.reports.cards import CardView, cards_of, get_reported_site, month_report
from terminals.reports.exports import (
    XLSX_TYPE,
    card_table,
    org_rank_table,
    site_rank_table,
    stream_csv,
    stream_xlsx,
)
from terminals.reports.labels import DUTY_LABELS, VERDICT_LABELS
from terminals.reports.rankings import rankings
from terminals.sites.fields import tier_label
from terminals.sites.permissions import can_manage_site
from terminals.sites.staff import sites_run_by

router = APIRouter(include_in_schema=False)
MONTH_TEXT = re.compile(r"^(\d{4})-(\d{2})$")
FORMATS = ("csv", "xlsx")


def page_month(text: str, today: date) -> tuple[int, int]:
    """The month of a `?month=YYYY-MM` field; the running month when empty or not a month."""
    found = MONTH_TEXT.match(text.strip())
    if found:
        year, month = int(found[1]), int(found[2])
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return year, month
    return today.year, today.month


def _labels(locale: str) -> dict[str, Any]:
    return {
        "duty_labels": {key: gettext(locale, text) for key, text in DUTY_LABELS.items()},
        "verdict_labels": {key: gettext(locale, text) for key, text in VERDICT_LABELS.items()},
        "tiers": [(key, tier_label(key, locale)) for key in get_settings().site_tiers],
        "tier_names": {key: tier_label(key, locale) for key in get_settings().site_tiers},
    }


def _filters(org_id: str, tier: str, month: str) -> tuple[int | None, str | None, int, int]:
    today = local_date(utcnow())
    year, chosen = page_month(month, today)
    return (
        optional_id(org_id),
        tier if tier in get_settings().site_tiers else None,
        year,
        chosen,
    )


def _query(org_id: int | None, tier: str | None, year: int, month: int) -> dict[str, Any]:
    query: dict[str, Any] = {"month": f"{year}-{month:02d}"}
    if org_id is not None:
        query["org_id"] = org_id
    if tier is not None:
        query["tier"] = tier
    return query


def _chart_data(cards: list[CardView], locale: str) -> dict[str, Any]:
    """Counts per duty and verdict, for the stacked bar chart (the table says the same)."""
    counts: dict[str, dict[str, int]] = {
        duty: {"met": 0, "short": 0, "pending": 0} for duty in DUTY_LABELS
    }
    for card in cards:
        for row in card.results:
            counts[row["duty"]][row["verdict"]] += 1
    return {
        "categories": [gettext(locale, DUTY_LABELS[duty]) for duty in counts],
        "series": [
            {
                "key": verdict,
                "name": gettext(locale, label),
                "data": [counts[duty][verdict] for duty in counts],
            }
            for verdict, label in VERDICT_LABELS.items()
        ],
    }


@router.get("/admin/reports")
def reports_page(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    org_id: str = "",
    tier: str = "",
    month: str = "",
) -> Response:
    """The month's report cards of every site in the admin's subtree, with counts and 参学率."""
    org_filter, tier_filter, year, chosen = _filters(org_id, tier, month)
    locale = reader_locale(request)
    report = month_report(
        session,
        actor,
        year,
        chosen,
        today=local_date(utcnow()),
        org_id=org_filter,
        tier=tier_filter,
    )
    return admin_page(
        request,
        "terminals/reports/reports.html",
        actor=actor,
        section="reports",
        report=report,
        chart=_chart_data(report.cards, locale),
        orgs=org_tree(session=session, actor=actor),
        org_filter=org_filter,
        tier_filter=tier_filter,
        query=_query(org_filter, tier_filter, year, chosen),
        **_labels(locale),
    )


@router.get("/admin/reports/sites/{site_id}")
def site_card_page(
    request: Request, site_id: RowId, session: SessionDep, actor: AdminUser, month: str = ""
) -> Response:
    """One site's card for a month, duty by duty, and its months of this year."""
    site = get_reported_site(session, actor, site_id)
    if not can_manage_site(actor, site):
        raise NotFound(N_("Site %(id)s not found."), id=site_id)
    today = local_date(utcnow())
    year, chosen = page_month(month, today)
    card = cards_of(session, [site], year, chosen, today=today)[0]
    return admin_page(
        request,
        "terminals/reports/site_card.html",
        actor=actor,
        section="reports",
        site=site,
        card=card,
        month_text=f"{year}-{chosen:02d}",
        **_labels(reader_locale(request)),
    )


@router.get("/admin/reports/rankings")
def rankings_page(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    org_id: str = "",
    tier: str = "",
    month: str = "",
) -> Response:
    """Sites and the organisations under the chosen one, ranked for the month."""
    org_filter, tier_filter, year, chosen = _filters(org_id, tier, month)
    locale = reader_locale(request)
    found = rankings(
        session,
        actor,
        year,
        chosen,
        today=local_date(utcnow()),
        org_id=org_filter,
        tier=tier_filter,
    )
    chart = {
        "names": [row.name for row in found.orgs] if found else [],
        "rates": [round(row.participation_rate * 100, 1) for row in found.orgs] if found else [],
        "label": gettext(locale, N_("Participation rate (%)")),
    }
    return admin_page(
        request,
        "terminals/reports/rankings.html",
        actor=actor,
        section="reports",
        found=found,
        chart=chart,
        month_text=f"{year}-{chosen:02d}",
        orgs=org_tree(session=session, actor=actor),
        org_filter=org_filter,
        tier_filter=tier_filter,
        query=_query(
            org_filter if org_filter else (found.org_id if found else None),
            tier_filter,
            year,
            chosen,
        ),
        **_labels(locale),
    )


def _download(name: str, fmt: str, body: Any) -> Response:
    media = "text/csv; charset=utf-8" if fmt == "csv" else XLSX_TYPE
    return StreamingResponse(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise NotFound(N_("There is no export format %(format)s."), format=fmt)


@router.get("/admin/reports/export.{fmt}")
def reports_export(
    request: Request,
    fmt: str,
    session: SessionDep,
    actor: AdminUser,
    org_id: str = "",
    tier: str = "",
    month: str = "",
) -> Response:
    """The month's cards (same scope and filters as the page) as CSV or XLSX."""
    _check_format(fmt)
    org_filter, tier_filter, year, chosen = _filters(org_id, tier, month)
    locale = reader_locale(request)
    report = month_report(
        session,
        actor,
        year,
        chosen,
        today=local_date(utcnow()),
        org_id=org_filter,
        tier=tier_filter,
    )
    header, rows = card_table(report, locale)
    name = f"report-cards-{year}-{chosen:02d}"
    if fmt == "csv":
        return _download(name, fmt, stream_csv(header, list(rows)))
    title = gettext(locale, N_("Report cards"))
    return _download(name, fmt, stream_xlsx([(title, header, list(rows))]))


@router.get("/admin/reports/rankings/export.{fmt}")
def rankings_export(
    request: Request,
    fmt: str,
    session: SessionDep,
    actor: AdminUser,
    org_id: str = "",
    tier: str = "",
    month: str = "",
) -> Response:
    """The month's rankings as CSV (sites, then organisations) or XLSX (a sheet each)."""
    _check_format(fmt)
    org_filter, tier_filter, year, chosen = _filters(org_id, tier, month)
    locale = reader_locale(request)
    found = rankings(
        session,
        actor,
        year,
        chosen,
        today=local_date(utcnow()),
        org_id=org_filter,
        tier=tier_filter,
    )
    if found is None:
        raise PermissionDenied(N_("You administer no organisation."))
    site_header, site_rows = site_rank_table(found, locale)
    org_header, org_rows = org_rank_table(found, locale)
    name = f"rankings-{year}-{chosen:02d}"
    if fmt == "csv":
        rows: list[list[Cell]] = [*site_rows, [], list(org_header), *org_rows]
        return _download(name, fmt, stream_csv(site_header, rows))
    sheets = [
        (gettext(locale, N_("Sites")), site_header, list(site_rows)),
        (gettext(locale, N_("Organisations")), org_header, list(org_rows)),
    ]
    return _download(name, fmt, stream_xlsx(sheets))


@router.get("/site/report")
def own_report_page(
    request: Request, session: SessionDep, actor: CurrentUser, month: str = ""
) -> Response:
    """The report card of each site the user runs (站点管理员), for the month chosen."""
    sites = sites_run_by(session=session, user=actor)
    if not sites:
        raise PermissionDenied(N_("You run no site."))
    today = local_date(utcnow())
    year, chosen = page_month(month, today)
    return render(
        request,
        "terminals/reports/own.html",
        {
            "user": actor,
            "cards": cards_of(session, sites, year, chosen, today=today),
            "month_text": f"{year}-{chosen:02d}",
            **_labels(reader_locale(request)),
        },
    )
