"""Shapes of the reports API."""

from datetime import date

from pydantic import BaseModel


class DutyRead(BaseModel):
    duty: str
    required: float
    achieved: float
    verdict: str
    day: date | None = None


class CardRead(BaseModel):
    """A site's card for a month; `closed` when the month is over (then it is the stored card,
    else judged as far as the month has gone)."""

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
    short_in_a_row: int
    results: list[DutyRead]


class MonthReportRead(BaseModel):
    """A month's cards for the caller's subtree (narrowed by org and tier), with 参学率."""

    year: int
    month: int
    closed: bool
    sites: int
    compliant: int
    studied: int
    participation_rate: float
    cards: list[CardRead]


class SiteRankRead(BaseModel):
    rank: int
    card: CardRead


class OrgRankRead(BaseModel):
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


class RankingsRead(BaseModel):
    org_id: int
    org_name: str
    year: int
    month: int
    closed: bool
    participation_rate: float
    sites: list[SiteRankRead]
    orgs: list[OrgRankRead]
