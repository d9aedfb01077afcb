"""Closing a month: every site with duties gets its card stored once, and a site short of a
duty is escalated (site administrators; the township's org admins the second month in a row;
the county's from the third), once per site per month.

"Township" is the nearest organisation of kind committee (党委) at or above the site's
organisation, else the site's own organisation; "county" the nearest district (区委/县委). Their
org admins are those granted org_admin on that very organisation.
"""

import logging
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.i18n import N_, gettext
from core.notify.service import notify
from core.people.models import Organisation, OrgKind, Role, RoleGrant, User
from core.settings import get_settings
from terminals.reports.cards import (
    DUTY_STATUSES,
    check_month,
    judge_sites,
    month_over,
    previous_month,
    result_rows,
)
from terminals.reports.compliance import Level, escalation
from terminals.reports.labels import DUTY_LABELS
from terminals.reports.models import SiteReportCard
from terminals.sites.models import Site, SiteAdministrator

log = logging.getLogger(__name__)
CATEGORY = "site_report"


def nearest_org(session: Session, org: Organisation, kind: OrgKind) -> Organisation | None:
    """The nearest organisation of `kind` at or above `org`."""
    ids = org.ancestor_ids
    found = {
        row.id: row
        for row in session.scalars(
            select(Organisation).where(Organisation.id.in_(ids), Organisation.kind == kind)
        )
    }
    for org_id in reversed(ids):
        if org_id in found:
            return found[org_id]
    return None


def _org_admins(session: Session, org: Organisation | None) -> list[int]:
    if org is None:
        return []
    return list(
        session.scalars(
            select(RoleGrant.user_id)
            .join(User, User.id == RoleGrant.user_id)
            .where(RoleGrant.org_id == org.id, RoleGrant.role == Role.org_admin, User.active)
        )
    )


def recipients(
    session: Session, site: Site, levels: tuple[Level, ...]
) -> tuple[list[int], list[int]]:
    """Who a shortfall reaching `levels` is sent to, each once: the site's administrators (who
    read it on their own pages) and the org admins above them (on the administration's)."""
    runners: list[int] = []
    admins: list[int] = []
    if Level.site in levels:
        runners += session.scalars(
            select(SiteAdministrator.user_id).where(SiteAdministrator.site_id == site.id)
        )
    if Level.township in levels:
        township = nearest_org(session, site.org, OrgKind.committee) or site.org
        admins += _org_admins(session, township)
    if Level.county in levels:
        admins += _org_admins(session, nearest_org(session, site.org, OrgKind.district))
    runners = list(dict.fromkeys(runners))
    return runners, [user for user in dict.fromkeys(admins) if user not in runners]


def _escalate(session: Session, site: Site, card: SiteReportCard) -> None:
    levels = escalation(card.short_in_a_row)
    if not levels:
        return
    runners, admins = recipients(session, site, levels)
    locale = get_settings().default_locale
    month = f"{card.year}-{card.month:02d}"
    short = [
        gettext(locale, DUTY_LABELS[row["duty"]])
        for row in card.results
        if row["verdict"] == "short"
    ]
    title = gettext(
        locale,
        N_("Site %(site)s fell short of its duties in %(month)s"),
        site=site.name,
        month=month,
    )
    body = gettext(
        locale,
        N_("Short: %(duties)s. Months short in a row: %(count)s."),
        duties=", ".join(short),
        count=card.short_in_a_row,
    )
    # Each reads the card where they work: the site's administrators on their own pages.
    for users, link in (
        (runners, f"/site/report?month={month}"),
        (admins, f"/admin/reports/sites/{site.id}?month={month}"),
    ):
        if users:
            notify(
                session=session,
                recipients=users,
                category=CATEGORY,
                title=title,
                body=body,
                link=link,
            )
    card.escalated_to = [level.value for level in levels]


def close_month(session: Session, year: int, month: int, *, today: date) -> int:
    """Store the month's card of every site with duties that has none yet and escalate its
    shortfall; returns how many were stored. Safe to run again: a stored card is never
    judged or escalated twice (the unique key stops a concurrent run's second copy)."""
    check_month(year, month)
    if not month_over(year, month, today):
        return 0
    done = select(SiteReportCard.site_id).where(
        SiteReportCard.year == year, SiteReportCard.month == month
    )
    sites = list(
        session.scalars(
            select(Site)
            .where(Site.status.in_(DUTY_STATUSES), Site.id.not_in(done))
            .order_by(Site.id)
        ).unique()
    )
    if not sites:
        return 0
    before_year, before_month = previous_month(year, month)
    streaks: dict[int, int] = dict(
        session.execute(
            select(SiteReportCard.site_id, SiteReportCard.short_in_a_row).where(
                SiteReportCard.year == before_year,
                SiteReportCard.month == before_month,
                SiteReportCard.site_id.in_([site.id for site in sites]),
            )
        ).all()
    )
    judged = judge_sites(session, sites, year, month, today=today)
    stored = 0
    for site in sites:
        card, minutes, sessions, days = judged[site.id]
        row = SiteReportCard(
            site_id=site.id,
            year=year,
            month=month,
            score=round(card.score, 4),
            compliant=card.compliant,
            minutes=round(minutes, 1),
            group_sessions=sessions,
            open_days=days,
            results=result_rows(card),
            short_in_a_row=0 if card.compliant else streaks.get(site.id, 0) + 1,
            escalated_to=[],
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
                _escalate(session, site, row)
        except IntegrityError:
            log.info("card of site %s for %s-%s stored by another run", site.id, year, month)
            continue
        stored += 1
    return stored
