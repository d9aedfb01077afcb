"""Rankings (动态排名) of a month: sites by their card's score, then minutes played; the
organisations directly under a chosen one (branches, townships) by the participation rate of
their sites, then their members' credit hours in the year. Everything is counted in SQL or over
one row per site (the month's cards), never over the month's records."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.people.models import Member, Organisation, User
from core.people.permissions import managed_orgs
from core.people.service import get_managed_org
from terminals.credits.models import CreditEntry
from terminals.reports.cards import CardView, MonthReport, month_report
from terminals.reports.compliance import participation_rate


@dataclass(frozen=True)
class SiteRank:
    rank: int
    card: CardView


@dataclass(frozen=True)
class OrgRank:
    """An organisation under the chosen one: its sites in the month and members' year."""

    rank: int
    org_id: int
    name: str
    kind: str
    sites: int
    studied: int
    compliant: int
    participation_rate: float
    minutes: float
    members: int
    hours: float
    average_hours: float


@dataclass(frozen=True)
class Rankings:
    org_id: int
    org_name: str
    year: int
    month: int
    closed: bool
    participation_rate: float
    sites: list[SiteRank]
    orgs: list[OrgRank]


def rank_sites(report: MonthReport) -> list[SiteRank]:
    """Sites by score, then minutes played, then code."""
    ordered = sorted(report.cards, key=lambda card: (-card.score, -card.minutes, card.code))
    return [SiteRank(place, card) for place, card in enumerate(ordered, start=1)]


def default_org(session: Session, actor: User) -> Organisation | None:
    """The highest organisation the actor manages (the first root of their tree)."""
    return session.scalars(
        select(Organisation).where(managed_orgs(actor)).order_by(Organisation.path).limit(1)
    ).first()


def _credit_hours(session: Session, root: Organisation, year: int) -> dict[str, tuple[int, float]]:
    """Members and their credit hours in `year`, per organisation path under `root`."""
    hours = (
        select(CreditEntry.member_id, func.sum(CreditEntry.hours).label("hours"))
        .where(CreditEntry.year == year)
        .group_by(CreditEntry.member_id)
        .subquery()
    )
    rows = session.execute(
        select(Organisation.path, func.count(Member.id), func.coalesce(func.sum(hours.c.hours), 0))
        .join(Member, Member.org_id == Organisation.id)
        .outerjoin(hours, hours.c.member_id == Member.id)
        .where(Member.active, Organisation.path.startswith(root.path))
        .group_by(Organisation.path)
    )
    return {path: (int(count), float(total)) for path, count, total in rows}


def rank_orgs(
    session: Session, root: Organisation, report: MonthReport, paths: dict[int, str]
) -> list[OrgRank]:
    """The direct sub-organisations of `root` by participation rate, then credit hours."""
    children = list(
        session.scalars(
            select(Organisation).where(Organisation.parent_id == root.id).order_by(Organisation.id)
        )
    )
    credits = _credit_hours(session, root, report.year)
    tallies: dict[int, list[CardView]] = defaultdict(list)
    for card in report.cards:
        site_path = paths.get(card.org_id, "")
        for child in children:
            if site_path.startswith(child.path):
                tallies[child.id].append(card)
                break
    rows = []
    for child in children:
        cards = tallies[child.id]
        members = sum(n for path, (n, _) in credits.items() if path.startswith(child.path))
        hours = sum(h for path, (_, h) in credits.items() if path.startswith(child.path))
        studied = sum(card.minutes > 0 for card in cards)
        rows.append(
            (
                child,
                len(cards),
                studied,
                sum(card.compliant for card in cards),
                round(sum(card.minutes for card in cards), 1),
                members,
                round(hours, 2),
            )
        )
    rows.sort(
        key=lambda row: (-participation_rate(row[2], row[1]), -row[6], row[0].name, row[0].id)
    )
    return [
        OrgRank(
            rank=place,
            org_id=child.id,
            name=child.name,
            kind=child.kind.value,
            sites=sites,
            studied=studied,
            compliant=compliant,
            participation_rate=participation_rate(studied, sites),
            minutes=minutes,
            members=members,
            hours=hours,
            average_hours=round(hours / members, 2) if members else 0.0,
        )
        for place, (child, sites, studied, compliant, minutes, members, hours) in enumerate(
            rows, start=1
        )
    ]


def rankings(
    session: Session,
    actor: User,
    year: int,
    month: int,
    *,
    today: date,
    org_id: int | None = None,
    tier: str | None = None,
) -> Rankings | None:
    """The month's rankings under `org_id` (by default the actor's highest organisation);
    None when the actor manages no organisation."""
    if org_id is not None:
        root = get_managed_org(session=session, actor=actor, org_id=org_id)
    else:
        found = default_org(session, actor)
        if found is None:
            return None
        root = found
    report = month_report(session, actor, year, month, today=today, org_id=root.id, tier=tier)
    paths: dict[int, str] = dict(
        session.execute(
            select(Organisation.id, Organisation.path).where(
                Organisation.path.startswith(root.path)
            )
        ).all()
    )
    return Rankings(
        org_id=root.id,
        org_name=root.name,
        year=year,
        month=month,
        closed=report.closed,
        participation_rate=report.participation_rate,
        sites=rank_sites(report),
        orgs=rank_orgs(session, root, report, paths),
    )
