"""Rankings (动态排名) of an organisation's members and sub-organisations by credits earned in a
year, and participation rates (参学率: the share of members who earned any credit)."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.i18n import N_
from core.people.models import Member, Organisation, User
from core.settings import get_settings
from terminals.credits.models import CreditEntry
from terminals.records.permissions import can_see_ranking


@dataclass(frozen=True)
class MemberRank:
    """A member's place by hours."""

    rank: int
    member_id: int
    name: str
    org_id: int
    org_name: str
    duty: str
    hours: float
    requirement: float
    complete: bool


@dataclass(frozen=True)
class OrgRank:
    """A sub-organisation's place by average hours per member."""

    rank: int
    org_id: int
    name: str
    members: int
    studied: int
    participation_rate: float
    hours: float
    average_hours: float


@dataclass(frozen=True)
class Ranking:
    """An organisation's year: its members and direct sub-organisations ranked."""

    org_id: int
    name: str
    year: int
    members: int
    studied: int
    participation_rate: float
    hours: float
    member_ranks: list[MemberRank]
    org_ranks: list[OrgRank]


def get_ranked_org(*, session: Session, user: User | None, org_id: int) -> Organisation:
    """An organisation whose ranking the user may read; any other is "not found"."""
    org = session.get(Organisation, org_id)
    if org is None or not can_see_ranking(user, org):
        raise NotFound(N_("Organisation %(id)s not found."), id=org_id)
    return org


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def rank_org(*, session: Session, org: Organisation, year: int) -> Ranking:
    """Members of the subtree (active ones) ranked by hours, ties by name; direct sub-orgs
    ranked by average hours per member."""
    hours = (
        select(CreditEntry.member_id, func.sum(CreditEntry.hours).label("hours"))
        .where(CreditEntry.year == year)
        .group_by(CreditEntry.member_id)
        .subquery()
    )
    rows = session.execute(
        select(Member, Organisation.path, Organisation.name, func.coalesce(hours.c.hours, 0.0))
        .join(Organisation, Organisation.id == Member.org_id)
        .outerjoin(hours, hours.c.member_id == Member.id)
        .where(Member.active, Organisation.path.startswith(org.path))
    ).all()
    requirements = get_settings().credit_requirements
    ordered = sorted(rows, key=lambda row: (-float(row[3]), row[0].name, row[0].id))
    member_ranks = []
    for place, (member, _path, org_name, earned) in enumerate(ordered, start=1):
        required = float(requirements.get(member.duty.value, requirements.get("member", 0.0)))
        member_ranks.append(
            MemberRank(
                rank=place,
                member_id=member.id,
                name=member.name,
                org_id=member.org_id,
                org_name=org_name,
                duty=member.duty.value,
                hours=round(float(earned), 2),
                requirement=required,
                complete=float(earned) >= required,
            )
        )
    children = session.scalars(
        select(Organisation).where(Organisation.parent_id == org.id).order_by(Organisation.name)
    ).all()
    org_ranks = []
    for child in children:
        inside = [row for row in rows if row[1].startswith(child.path)]
        total = sum(float(row[3]) for row in inside)
        studied = sum(1 for row in inside if float(row[3]) > 0)
        org_ranks.append((child, len(inside), studied, total))
    org_ranks.sort(key=lambda item: (-(item[3] / item[1] if item[1] else 0.0), item[0].name))
    studied_all = sum(1 for row in rows if float(row[3]) > 0)
    return Ranking(
        org_id=org.id,
        name=org.name,
        year=year,
        members=len(rows),
        studied=studied_all,
        participation_rate=_rate(studied_all, len(rows)),
        hours=round(sum(float(row[3]) for row in rows), 2),
        member_ranks=member_ranks,
        org_ranks=[
            OrgRank(
                rank=place,
                org_id=child.id,
                name=child.name,
                members=count,
                studied=studied,
                participation_rate=_rate(studied, count),
                hours=round(total, 2),
                average_hours=round(total / count, 2) if count else 0.0,
            )
            for place, (child, count, studied, total) in enumerate(org_ranks, start=1)
        ],
    )
