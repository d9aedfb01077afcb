"""The site map (站点地图): every site an administrator may see, placed at its coordinates and
coloured by what it is doing now, with a summary of the counts; the same data as JSON
(`GET /api/sites/map`) for the page's chart and for any other dashboard.

A site's state on the map combines its status with its agent's presence: a suspended or a
merely registered site is shown as such whatever its agent does; an approved or active site is
online, offline, or never heard from (presence.py, from the newest heartbeat of a device that
is not revoked).
"""

import enum
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.api import MAX_ID, SessionDep, verify_csrf
from core.db import utcnow
from core.errors import ConfigurationError, InvalidInput
from core.i18n import N_
from core.people.api import AdminUser
from core.people.forms import admin_page, optional_id
from core.people.models import Organisation, User
from core.people.orgs import org_tree
from core.people.service import get_managed_org
from core.settings import get_settings
from terminals.sites.models import Site, SiteDevice, SiteStatus
from terminals.sites.permissions import visible_sites
from terminals.sites.presence import presence_of

# The HTML table (the page without its chart) lists at most this many sites; the JSON has all.
TABLE_LIMIT = 500
# china-geojson's file of each province, by the first two digits of an administrative code.
PROVINCE_MAPS = {
    "11": "bei_jing",
    "12": "tian_jin",
    "13": "he_bei",
    "14": "shan_xi_2",
    "15": "nei_meng_gu",
    "21": "liao_ning",
    "22": "ji_lin",
    "23": "hei_long_jiang",
    "31": "shang_hai",
    "32": "jiang_su",
    "33": "zhe_jiang",
    "34": "an_hui",
    "35": "fu_jian",
    "36": "jiang_xi",
    "37": "shan_dong",
    "41": "he_nan",
    "42": "hu_bei",
    "43": "hu_nan",
    "44": "guang_dong",
    "45": "guang_xi",
    "46": "hai_nan",
    "50": "chong_qing",
    "51": "si_chuan",
    "52": "gui_zhou",
    "53": "yun_nan",
    "54": "xi_zang",
    "61": "shan_xi_1",
    "62": "gan_su",
    "63": "qing_hai",
    "64": "ning_xia",
    "65": "xin_jiang",
    "71": "tai_wan",
    "81": "xiang_gang",
    "82": "ao_men",
}
COUNTRY_MAP = "china"


class SiteState(enum.StrEnum):
    """What the map colours a site by, in the order of its legend."""

    online = "online"
    offline = "offline"
    never = "never"  # approved, but no agent heard from yet
    registered = "registered"  # waiting for approval
    suspended = "suspended"


def state_of(status: SiteStatus, last_seen_at: datetime | None, *, now: datetime) -> SiteState:
    """The site's state on the map: its status first, then its agent's presence."""
    if status is SiteStatus.suspended:
        return SiteState.suspended
    if status is SiteStatus.registered:
        return SiteState.registered
    return SiteState(presence_of(last_seen_at, now=now).value)


def located(latitude: float | None, longitude: float | None) -> bool:
    """Whether the coordinates place the site on the earth (both given and in range)."""
    return (
        latitude is not None
        and longitude is not None
        and -90 <= latitude <= 90
        and -180 <= longitude <= 180
    )


@dataclass(frozen=True)
class MapSite:
    """One site as the map shows it."""

    id: int
    code: str
    name: str
    tier: str
    org_id: int
    org_name: str
    status: SiteStatus
    state: SiteState
    last_seen_at: datetime | None
    latitude: float | None
    longitude: float | None

    @property
    def located(self) -> bool:
        return located(self.latitude, self.longitude)


@dataclass(frozen=True)
class SiteMap:
    """The sites matching the filters, with the count of each state among them."""

    sites: list[MapSite]
    counts: dict[SiteState, int] = field(default_factory=dict)

    @property
    def unlocated(self) -> list[MapSite]:
        return [site for site in self.sites if not site.located]

    @property
    def region(self) -> str:
        """The map to draw (YUANJIAO_MAP_REGION): with "auto", the province whose code begins
        every located site's code (a province's cities are a tenth of the country's bytes and
        show where a county's sites are), else the country."""
        setting = get_settings().map_region
        if setting != "auto":
            return setting
        provinces = {site.code[:2] for site in self.sites if site.located}
        if len(provinces) == 1:
            return PROVINCE_MAPS.get(provinces.pop(), COUNTRY_MAP)
        return COUNTRY_MAP


def _check_tier(tier: str | None) -> None:
    if tier is not None and tier not in get_settings().site_tiers:
        raise InvalidInput(N_("There is no site tier %(tier)s."), tier=tier)


def site_map(
    *,
    session: Session,
    actor: User,
    org_id: int | None = None,
    tier: str | None = None,
    state: SiteState | None = None,
    now: datetime | None = None,
) -> SiteMap:
    """The sites the actor may see, narrowed to an org's subtree (one the actor manages), a
    tier and a state, in code order."""
    _check_tier(tier)
    now = now or utcnow()
    newest = (
        select(SiteDevice.site_id, func.max(SiteDevice.last_seen_at).label("last_seen_at"))
        .where(SiteDevice.revoked_at.is_(None))
        .group_by(SiteDevice.site_id)
        .subquery()
    )
    query = (
        select(
            Site.id,
            Site.code,
            Site.name,
            Site.tier,
            Site.status,
            Site.latitude,
            Site.longitude,
            Organisation.id,
            Organisation.name,
            newest.c.last_seen_at,
        )
        .join(Organisation, Organisation.id == Site.org_id)
        .outerjoin(newest, newest.c.site_id == Site.id)
        .where(visible_sites(actor))
        .order_by(Site.code)
    )
    if org_id is not None:
        org = get_managed_org(session=session, actor=actor, org_id=org_id)
        query = query.where(Organisation.path.startswith(org.path))
    if tier is not None:
        query = query.where(Site.tier == tier)
    sites = []
    for row in session.execute(query):
        site_id, code, name, site_tier, status, lat, lon, owner_id, owner, seen = row
        site_state = state_of(status, seen, now=now)
        if state is not None and site_state is not state:
            continue
        sites.append(
            MapSite(
                site_id, code, name, site_tier, owner_id, owner, status, site_state, seen, lat, lon
            )
        )
    counted = Counter(site.state for site in sites)
    return SiteMap(sites=sites, counts={kind: counted[kind] for kind in SiteState})


# The JSON


class MapSiteRead(BaseModel):
    id: int
    code: str
    name: str
    tier: str
    org_id: int
    org_name: str
    status: SiteStatus
    state: SiteState
    last_seen_at: datetime | None
    latitude: float | None
    longitude: float | None
    located: bool
    url: str


class SiteMapRead(BaseModel):
    """Sites in code order; `counts` has every state, zero included; `total` is their sum."""

    region: str
    generated_at: datetime
    total: int
    counts: dict[SiteState, int]
    sites: list[MapSiteRead]


def site_url(site_id: int) -> str:
    """The site's own page in the administration."""
    return f"/admin/sites/{site_id}"


def site_map_read(found: SiteMap, *, now: datetime) -> SiteMapRead:
    return SiteMapRead(
        region=found.region,
        generated_at=now,
        total=len(found.sites),
        counts=found.counts,
        sites=[
            MapSiteRead(
                id=site.id,
                code=site.code,
                name=site.name,
                tier=site.tier,
                org_id=site.org_id,
                org_name=site.org_name,
                status=site.status,
                state=site.state,
                last_seen_at=site.last_seen_at,
                latitude=site.latitude,
                longitude=site.longitude,
                located=site.located,
                url=site_url(site.id),
            )
            for site in found.sites
        ],
    )


router = APIRouter(dependencies=[Depends(verify_csrf)])

OrgQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
TierQuery = Annotated[str | None, Query(min_length=1, max_length=40)]


@router.get("/api/sites/map", response_model=SiteMapRead, tags=["sites"])
def site_map_json(
    session: SessionDep,
    actor: AdminUser,
    org_id: OrgQuery = None,
    tier: TierQuery = None,
    state: SiteState | None = None,
) -> Any:
    """The sites the caller may see, with coordinates, state and last contact, and the count of
    each state; filtered by org subtree (`org_id`), `tier` and `state`."""
    now = utcnow()
    found = site_map(session=session, actor=actor, org_id=org_id, tier=tier, state=state, now=now)
    return site_map_read(found, now=now)


def _region_url(request: Request, region: str) -> str:
    """The address of the region's GeoJSON; a region without a file is the operator's mistake,
    told in the log."""
    try:
        url: str = request.app.state.templates.env.globals["static_url"](
            f"vendor/maps/{region}.json"
        )
    except KeyError:
        raise ConfigurationError(
            N_("YUANJIAO_MAP_REGION=%(region)s has no map data (run `make vendor`)."),
            region=region,
        ) from None
    return url


@router.get("/admin/sites/map", include_in_schema=False)
def site_map_page(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    org_id: str = "",
    tier: str = "",
    state: str = "",
) -> Response:
    """The map with its summary strip, filters, the sites without coordinates beside it, and
    every site as a table for a browser that cannot draw the chart."""
    org_filter = optional_id(org_id)
    tier_filter = tier if tier in get_settings().site_tiers else None
    state_filter = SiteState(state) if state in SiteState.__members__ else None
    found = site_map(
        session=session, actor=actor, org_id=org_filter, tier=tier_filter, state=state_filter
    )
    query = {
        key: value
        for key, value in (("org_id", org_filter), ("tier", tier_filter), ("state", state_filter))
        if value is not None
    }
    return admin_page(
        request,
        "terminals/sites/map.html",
        actor=actor,
        section="sites",
        found=found,
        states=list(SiteState),
        tiers=list(get_settings().site_tiers),
        orgs=org_tree(session=session, actor=actor),
        org_filter=org_filter,
        tier_filter=tier_filter,
        state_filter=state_filter,
        query=query,
        region=found.region,
        region_url=_region_url(request, found.region),
        table=found.sites[:TABLE_LIMIT],
        table_limit=TABLE_LIMIT,
    )
