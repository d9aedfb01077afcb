"""Heartbeats: each is kept as history and moves the device's last_seen_at, from which
terminals.sites.presence tells online from offline."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from terminals.sites.models import SiteDevice
from terminals.sync.models import SiteHeartbeat
from terminals.sync.schemas import HeartbeatBody


def record_heartbeat(
    *,
    session: Session,
    device: SiteDevice,
    body: HeartbeatBody,
    sent_at: datetime | None,
    received_at: datetime | None = None,
) -> SiteHeartbeat:
    """Keep one heartbeat and mark the device seen now."""
    now = received_at or utcnow()
    beat = SiteHeartbeat(
        site_id=device.site_id,
        device_id=device.id,
        received_at=now,
        sent_at=sent_at,
        powered_on_at=body.powered_on_at,
        now_playing=body.now_playing,
        disk_free_bytes=body.disk_free_bytes,
        agent_version=body.agent_version,
        last_sync_at=body.last_sync_at,
    )
    session.add(beat)
    mark_seen(session=session, device_id=device.id, agent_version=body.agent_version, now=now)
    session.flush()
    return beat


def mark_seen(
    *, session: Session, device_id: int, agent_version: str = "", now: datetime | None = None
) -> None:
    """Move the device's last_seen_at forward (never back) and note its agent version."""
    device = session.get_one(SiteDevice, device_id)
    moment = now or utcnow()
    if device.last_seen_at is None or device.last_seen_at < moment:
        device.last_seen_at = moment
    if agent_version:
        device.agent_version = agent_version


def recent_heartbeats(*, session: Session, site_id: int, limit: int = 100) -> list[SiteHeartbeat]:
    """A site's newest heartbeats first (for its page)."""
    return list(
        session.scalars(
            select(SiteHeartbeat)
            .where(SiteHeartbeat.site_id == site_id)
            .order_by(SiteHeartbeat.received_at.desc(), SiteHeartbeat.id.desc())
            .limit(limit)
        )
    )
