"""Enrolment and device tokens: a site's one-time code becomes a device token; the token's hash
names the device on every later request.

Re-enrolment rotates the token: enrolling a site again revokes every earlier device of that site,
so a lost or copied box is shut out by enrolling its replacement.
"""

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.i18n import N_
from terminals.sites.models import Site, SiteDevice, SiteStatus
from terminals.sync.errors import DeviceRefused, EnrolmentRefused, SiteSuspended


def token_hash(token: str) -> str:
    """The SHA-256 hex of a code or token: what the database keeps instead of it."""
    return hashlib.sha256(token.encode()).hexdigest()


def consume_code(*, session: Session, code: str, now: datetime | None = None) -> Site:
    """The site whose live one-time code this is, with the code cleared so it works only once.

    The sites package's `consume_enrolment_code` takes this place once merged; the rule is the
    same: SHA-256 of the code, unexpired, not for a suspended site."""
    site = session.scalar(
        select(Site).where(Site.enrolment_code_hash == token_hash(code)).with_for_update(of=Site)
    )
    expires_at = site.enrolment_code_expires_at if site is not None else None
    if site is None or (expires_at is not None and expires_at <= (now or utcnow())):
        raise EnrolmentRefused(
            N_("The enrolment code is wrong, used or expired: ask for a new one.")
        )
    if site.status == SiteStatus.suspended:
        raise SiteSuspended(N_("This site is suspended: its devices are refused."))
    site.enrolment_code_hash = None
    site.enrolment_code_expires_at = None
    return site


def enrol_device(
    *, session: Session, code: str, hostname: str = "", agent_version: str = "", address: str = ""
) -> tuple[SiteDevice, str]:
    """Exchange the code for a new device and its token (returned once, stored hashed); the
    site's earlier devices are revoked and the site becomes active."""
    site = consume_code(session=session, code=code)
    now = utcnow()
    session.execute(
        update(SiteDevice)
        .where(SiteDevice.site_id == site.id, SiteDevice.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(32)
    device = SiteDevice(
        site_id=site.id,
        token_hash=token_hash(token),
        hostname=hostname,
        agent_version=agent_version,
        last_seen_at=now,
    )
    session.add(device)
    site.status = SiteStatus.active
    session.flush()
    record(
        session=session,
        action="site.enrol",
        actor_login=f"device:{device.id}",
        target_type="site",
        target_id=site.id,
        org_id=site.org_id,
        address=address,
        detail={"device_id": device.id, "hostname": hostname, "agent_version": agent_version},
    )
    return device, token


def device_for_token(*, session: Session, token: str) -> SiteDevice:
    """The live device a bearer token names; DeviceRefused for an unknown or revoked token,
    SiteSuspended when its site is suspended."""
    device = session.scalar(select(SiteDevice).where(SiteDevice.token_hash == token_hash(token)))
    if device is None:
        raise DeviceRefused(N_("Unknown device token: enrol this agent with a new code."))
    if device.revoked_at is not None:
        raise DeviceRefused(
            N_(
                "This device token was revoked (the site was enrolled again): "
                "enrol this agent with a new code."
            )
        )
    if device.site.status == SiteStatus.suspended:
        raise SiteSuspended(N_("This site is suspended: its devices are refused."))
    return device
