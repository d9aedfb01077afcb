"""Enrolment and device tokens: a site's one-time code becomes a device token; the token's hash
names the device on every later request.

Re-enrolment rotates the token: enrolling a site again revokes every earlier device of that site,
so a lost or copied box is shut out by enrolling its replacement.
"""

import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.i18n import N_
from terminals.sites.models import SiteDevice, SiteStatus
from terminals.sites.service import consume_enrolment_code
from terminals.sync.errors import DeviceRefused, SiteSuspended


def token_hash(token: str) -> str:
    """The SHA-256 hex of a code or token: what the database keeps instead of it."""
    return hashlib.sha256(token.encode()).hexdigest()


def enrol_device(
    *, session: Session, code: str, hostname: str = "", agent_version: str = "", address: str = ""
) -> tuple[SiteDevice, str]:
    """Exchange the code for a new device and its token (returned once, stored hashed); the
    site's earlier devices are revoked, and an approved site becomes active."""
    site = consume_enrolment_code(session=session, code=code)
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
