"""The site record's rules: registering and editing a site, its life from registered to
suspended and back, the one-time enrolment code an agent exchanges for a device token, and
revoking devices. Every change is audited (core/audit) in the caller's transaction."""

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.i18n import N_
from core.paging import PER_PAGE, Page, paginate
from core.people.models import Organisation, User
from core.people.permissions import can_manage_org, is_platform_admin
from core.people.service import get_org, require_active, target_org
from core.settings import get_settings
from terminals.sites import fields
from terminals.sites.errors import EnrolmentRefused
from terminals.sites.models import BuildMode, Site, SiteDevice, SiteStatus
from terminals.sites.permissions import can_manage_site, can_see_site, visible_sites
from terminals.sites.presence import Presence

# Enrolment codes: 16 symbols from 31 (no 0/O, 1/I/L), about 79 bits, typed as XXXX-XXXX-XXXX-XXXX.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_GROUPS = 4
CODE_GROUP_LENGTH = 4


@dataclass(frozen=True)
class SiteDetails:
    """What a site record says besides its code, owner and tier (a form or body, checked)."""

    name: str
    host_unit: str = ""
    address: str = ""
    latitude: float | None = None
    longitude: float | None = None
    build_mode: BuildMode = BuildMode.broadband
    equipment: tuple[dict[str, Any], ...] = ()
    contacts: tuple[dict[str, Any], ...] = ()
    download_windows: tuple[str, ...] = ()
    notes: str = ""


def audit_site(
    session: Session,
    action: str,
    actor: User | None,
    site: Site,
    address: str = "",
    **detail: object,
) -> None:
    """Record a change to a site, filed under its owning organisation."""
    record(
        session=session,
        action=action,
        actor=actor,
        actor_login="" if actor is not None else "agent",
        target_type="site",
        target_id=site.id,
        org_id=site.org_id,
        address=address,
        detail={"code": site.code, "name": site.name, **detail},
    )


def get_visible_site(*, session: Session, actor: User | None, site_id: int) -> Site:
    """A site the actor manages or runs; any other is "not found"."""
    site = session.get(Site, site_id)
    if site is None or not can_see_site(actor, site):
        raise NotFound(N_("Site %(id)s not found."), id=site_id)
    return site


def get_managed_site(*, session: Session, actor: User | None, site_id: int) -> Site:
    """A site the actor manages: not found when out of sight, refused when only run by them."""
    site = get_visible_site(session=session, actor=actor, site_id=site_id)
    if not can_manage_site(actor, site):
        raise PermissionDenied(N_("Only the site's organisation admins may do this."))
    return site


def _apply_details(site: Site, details: SiteDetails) -> None:
    site.name = fields.check_text(
        details.name, limit=fields.NAME_MAX, missing=N_("The site needs a name.")
    )
    site.host_unit = fields.check_text(details.host_unit, limit=fields.HOST_UNIT_MAX)
    site.address = fields.check_text(details.address, limit=fields.ADDRESS_MAX)
    site.latitude, site.longitude = fields.check_coordinates(details.latitude, details.longitude)
    site.build_mode = BuildMode(details.build_mode)
    site.equipment = fields.check_equipment(list(details.equipment))
    site.contacts = fields.check_contacts(list(details.contacts))
    site.download_windows = fields.check_windows(list(details.download_windows))
    notes = details.notes.strip()
    if len(notes) > fields.NOTES_MAX:
        raise InvalidInput(N_("Notes have at most %(max)s characters."), max=fields.NOTES_MAX)
    site.notes = notes


def _code_taken(session: Session, code: str, site_id: int | None = None) -> None:
    query = select(Site.id).where(Site.code == code)
    if site_id is not None:
        query = query.where(Site.id != site_id)
    if session.scalar(query) is not None:
        raise InvalidInput(N_("A site with the code %(code)s exists already."), code=code)


def register_site(
    *,
    session: Session,
    actor: User,
    org_id: int,
    code: str,
    tier: str,
    details: SiteDetails,
    address: str = "",
) -> Site:
    """Register a site owned by an active organisation the actor manages; it starts
    `registered` and waits for approval from above."""
    org = target_org(session=session, actor=actor, org_id=org_id)
    require_active(org)
    site = Site(
        code=fields.check_code(code),
        tier=fields.check_tier(tier),
        org_id=org.id,
        created_by=actor.id,
        status=SiteStatus.registered,
    )
    _apply_details(site, details)
    _code_taken(session, site.code)
    session.add(site)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise InvalidInput(N_("A site with the code %(code)s exists already."), code=code) from exc
    session.refresh(site)
    audit_site(session, "site_registered", actor, site, address, tier=site.tier)
    return site


def update_site(
    *,
    session: Session,
    actor: User,
    site_id: int,
    code: str,
    tier: str,
    org_id: int,
    details: SiteDetails,
    address: str = "",
) -> Site:
    """Change a site's record; moving it to another organisation takes managing both."""
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    before = _snapshot(site)
    site.code = fields.check_code(code)
    _code_taken(session, site.code, site.id)
    site.tier = fields.check_tier(tier)
    if org_id != site.org_id:
        org = target_org(session=session, actor=actor, org_id=org_id)
        require_active(org)
        site.org_id = org.id
        site.org = org
    _apply_details(site, details)
    changed = sorted(key for key, value in _snapshot(site).items() if before[key] != value)
    if changed:
        session.flush()
        audit_site(session, "site_updated", actor, site, address, fields=changed)
    return site


def _snapshot(site: Site) -> dict[str, Any]:
    keys = [
        "code",
        "name",
        "org_id",
        "tier",
        "host_unit",
        "address",
        "latitude",
        "longitude",
        "build_mode",
        "equipment",
        "contacts",
        "download_windows",
        "notes",
    ]
    return {key: getattr(site, key) for key in keys}


class SiteSort(enum.StrEnum):
    """Columns the site list sorts by."""

    name = "name"
    code = "code"
    org = "org"
    tier = "tier"
    status = "status"
    last_seen = "last_seen"
    created = "created"


@dataclass(frozen=True)
class SiteFilter:
    """What a site list is narrowed to (None: no narrowing)."""

    query: str = ""
    status: SiteStatus | None = None
    tier: str | None = None
    org_id: int | None = None
    presence: Presence | None = None


def last_seen_column() -> Any:
    """A subquery of each site's newest contact from a device that is not revoked."""
    return (
        select(SiteDevice.site_id, func.max(SiteDevice.last_seen_at).label("last_seen"))
        .where(SiteDevice.revoked_at.is_(None))
        .group_by(SiteDevice.site_id)
        .subquery()
    )


def _presence_clause(seen: Any, presence: Presence, now: datetime) -> ColumnElement[bool]:
    since = now - timedelta(seconds=get_settings().site_offline_grace_seconds)
    if presence is Presence.never:
        return seen.c.last_seen.is_(None)
    if presence is Presence.online:
        return seen.c.last_seen >= since
    return seen.c.last_seen < since


def list_sites(
    *,
    session: Session,
    actor: User,
    where: SiteFilter = SiteFilter(),
    sort: SiteSort = SiteSort.name,
    descending: bool = False,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> tuple[Page[Site], dict[int, datetime | None]]:
    """Sites the actor may see, filtered and sorted, one page; with each site's last contact."""
    seen = last_seen_column()
    statement: Select[Any] = (
        select(Site)
        .join(Organisation, Organisation.id == Site.org_id)
        .outerjoin(seen, seen.c.site_id == Site.id)
        .where(visible_sites(actor))
    )
    if where.query.strip():
        needle = where.query.strip().lower()
        statement = statement.where(
            or_(
                func.lower(Site.name).contains(needle, autoescape=True),
                Site.code.contains(needle, autoescape=True),
            )
        )
    if where.status is not None:
        statement = statement.where(Site.status == where.status)
    if where.tier is not None:
        statement = statement.where(Site.tier == where.tier)
    if where.org_id is not None:
        org = get_org(session=session, org_id=where.org_id)
        statement = statement.where(Organisation.path.startswith(org.path))
    if where.presence is not None:
        statement = statement.where(_presence_clause(seen, where.presence, utcnow()))
    column: Any = {
        SiteSort.name: Site.name,
        SiteSort.code: Site.code,
        SiteSort.org: Organisation.name,
        SiteSort.tier: Site.tier,
        SiteSort.status: Site.status,
        SiteSort.last_seen: seen.c.last_seen,
        SiteSort.created: Site.created_at,
    }[sort]
    ordered = column.desc().nulls_last() if descending else column.asc().nulls_first()
    found = paginate(session, statement.order_by(ordered, Site.id), page=page, per_page=per_page)
    return found, last_contacts(session=session, site_ids=[site.id for site in found.items])


def last_contacts(*, session: Session, site_ids: list[int]) -> dict[int, datetime | None]:
    """The newest contact of each site's devices that are not revoked (None: never heard)."""
    rows = session.execute(
        select(SiteDevice.site_id, func.max(SiteDevice.last_seen_at))
        .where(SiteDevice.site_id.in_(site_ids), SiteDevice.revoked_at.is_(None))
        .group_by(SiteDevice.site_id)
    )
    found: dict[int, datetime | None] = dict.fromkeys(site_ids)
    found.update({site_id: seen for site_id, seen in rows})
    return found


# States


class Transition(enum.StrEnum):
    """What may be done to a site's state."""

    approve = "approve"  # registered -> approved (active when an agent is enrolled already)
    activate = "activate"  # approved -> active (an agent's enrolment does it too)
    suspend = "suspend"  # registered / approved / active -> suspended
    resume = "resume"  # suspended -> approved (active when an agent is enrolled)


SOURCES = {
    Transition.approve: {SiteStatus.registered},
    Transition.activate: {SiteStatus.approved},
    Transition.suspend: {SiteStatus.registered, SiteStatus.approved, SiteStatus.active},
    Transition.resume: {SiteStatus.suspended},
}
AUDIT_ACTIONS = {
    Transition.approve: "site_approved",
    Transition.activate: "site_activated",
    Transition.suspend: "site_suspended",
    Transition.resume: "site_resumed",
}
# Approving and resuming take an admin above the site's organisation (有限授权、分级发布):
# an org admin cannot approve the sites their own organisation registers.
FROM_ABOVE = frozenset({Transition.approve, Transition.resume})


def supervises(session: Session, actor: User | None, site: Site) -> bool:
    """Whether the actor administers an organisation above the site's owner (or the platform)."""
    if is_platform_admin(actor):
        return True
    parent = site.org.parent_id
    return parent is not None and can_manage_org(actor, get_org(session=session, org_id=parent))


def allowed_transitions(session: Session, actor: User | None, site: Site) -> list[Transition]:
    """The transitions the actor may make now, for buttons."""
    if not can_manage_site(actor, site):
        return []
    return [
        move
        for move in Transition
        if site.status in SOURCES[move]
        and (move not in FROM_ABOVE or supervises(session, actor, site))
    ]


def has_live_device(session: Session, site: Site) -> bool:
    """Whether an enrolled device of the site is not revoked."""
    query = select(SiteDevice.id).where(
        SiteDevice.site_id == site.id, SiteDevice.revoked_at.is_(None)
    )
    return session.scalar(query.limit(1)) is not None


def change_status(
    *, session: Session, actor: User, site_id: int, move: Transition, address: str = ""
) -> Site:
    """Move a site along its life; a move from the wrong state is refused with the reason."""
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    if site.status not in SOURCES[move]:
        raise InvalidInput(
            N_("A site that is %(status)s cannot be given this change."), status=site.status.value
        )
    if move in FROM_ABOVE and not supervises(session, actor, site):
        raise PermissionDenied(
            N_("An admin of an organisation above the site's owner approves or resumes it.")
        )
    before = site.status
    if move is Transition.suspend:
        site.status = SiteStatus.suspended
    elif move is Transition.activate:
        site.status = SiteStatus.active
    else:
        live = has_live_device(session, site)
        site.status = SiteStatus.active if live else SiteStatus.approved
    session.flush()
    audit_site(session, AUDIT_ACTIONS[move], actor, site, address, **{"from": before.value})
    return site


# Enrolment codes


def normalise_code(code: str) -> str:
    """A code as typed (any case, spaces or dashes between the groups) in the form it was
    printed, XXXX-XXXX-XXXX-XXXX; anything else is kept as typed, trimmed."""
    code = code.strip()
    symbols = "".join(ch for ch in code.upper() if ch not in " -")
    size = CODE_GROUPS * CODE_GROUP_LENGTH
    if len(symbols) != size or any(ch not in CODE_ALPHABET for ch in symbols):
        return code
    return "-".join(symbols[i : i + CODE_GROUP_LENGTH] for i in range(0, size, CODE_GROUP_LENGTH))


def hash_code(code: str) -> str:
    """SHA-256 of the code in its printed form: enough for 79 random bits, searchable by
    equality, and the same hash as the printed code's own (the sync part hashes what it is
    given)."""
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def generate_code() -> str:
    """A fresh code, grouped for typing: XXXX-XXXX-XXXX-XXXX."""
    symbols = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LENGTH))
    groups = [symbols[i : i + CODE_GROUP_LENGTH] for i in range(0, len(symbols), CODE_GROUP_LENGTH)]
    return "-".join(groups)


def issue_enrolment_code(
    *, session: Session, actor: User, site_id: int, address: str = ""
) -> tuple[Site, str]:
    """A new one-time enrolment code for the site, replacing any earlier one; returned once,
    stored only as its hash, valid for the configured number of days."""
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    return site, _set_new_code(session, actor, site, address)


def _set_new_code(session: Session, actor: User, site: Site, address: str) -> str:
    if site.status is SiteStatus.suspended:
        raise InvalidInput(N_("A suspended site cannot enrol devices: resume it first."))
    code = generate_code()
    days = get_settings().site_enrolment_code_days
    site.enrolment_code_hash = hash_code(code)
    site.enrolment_code_expires_at = utcnow() + timedelta(days=days)
    session.flush()
    audit_site(session, "site_code_issued", actor, site, address, days=days)
    return code


def register_site_with_code(
    *,
    session: Session,
    actor: User,
    org_id: int,
    code: str,
    tier: str,
    details: SiteDetails,
    address: str = "",
) -> tuple[Site, str]:
    """Register a site and issue its first enrolment code (the CLI's `sites add`)."""
    site = register_site(
        session=session,
        actor=actor,
        org_id=org_id,
        code=code,
        tier=tier,
        details=details,
        address=address,
    )
    return site, _set_new_code(session, actor, site, address)


def consume_enrolment_code(*, session: Session, code: str) -> Site:
    """The site whose unexpired code this is; the code is cleared (it works once), and an
    approved site becomes active. Refused for a wrong, used or expired code, or a suspended
    site, with EnrolmentRefused. The caller then creates the device in the same transaction."""
    if not code.strip():
        raise EnrolmentRefused(N_("The enrolment code is not valid or has been used already."))
    site = session.scalar(
        select(Site).where(Site.enrolment_code_hash == hash_code(code)).with_for_update(of=Site)
    )
    if site is None:
        raise EnrolmentRefused(N_("The enrolment code is not valid or has been used already."))
    expires = site.enrolment_code_expires_at
    if expires is None or expires <= utcnow():
        raise EnrolmentRefused(
            N_("The enrolment code has expired: ask the site's administrator for a new one.")
        )
    if site.status is SiteStatus.suspended:
        raise EnrolmentRefused(N_("This site is suspended and cannot enrol devices."))
    site.enrolment_code_hash = None
    site.enrolment_code_expires_at = None
    if site.status is SiteStatus.approved:
        site.status = SiteStatus.active
    session.flush()
    audit_site(session, "site_code_used", None, site)
    return site


# Devices


def list_devices(*, session: Session, site: Site) -> list[SiteDevice]:
    """The site's devices, newest first (revoked ones too, for the record)."""
    query = (
        select(SiteDevice)
        .where(SiteDevice.site_id == site.id)
        .order_by(SiteDevice.created_at.desc(), SiteDevice.id.desc())
    )
    return list(session.scalars(query))


def revoke_devices(
    *, session: Session, actor: User, site_id: int, device_id: int | None = None, address: str = ""
) -> int:
    """Revoke one device of the site, or all of them: their tokens stop working at once. The
    count revoked is returned; revoking a revoked device changes nothing."""
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    query = select(SiteDevice).where(SiteDevice.site_id == site.id, SiteDevice.revoked_at.is_(None))
    if device_id is not None:
        device = session.get(SiteDevice, device_id)
        if device is None or device.site_id != site.id:
            raise NotFound(N_("Device %(id)s not found."), id=device_id)
        query = query.where(SiteDevice.id == device_id)
    devices = list(session.scalars(query))
    now = utcnow()
    for device in devices:
        device.revoked_at = now
        device.revoked_by = actor.id
    if devices:
        session.flush()
        audit_site(
            session,
            "site_devices_revoked",
            actor,
            site,
            address,
            devices=[device.id for device in devices],
        )
    return len(devices)
