"""Whether a site's agent is online: heard from within the grace period (settings)."""

import enum
from datetime import datetime, timedelta

from core.db import utcnow
from core.settings import get_settings


class Presence(enum.StrEnum):
    """What the dashboard colours a site by, together with its status."""

    online = "online"
    offline = "offline"
    never = "never"  # no agent has been heard from yet


def presence_of(last_seen_at: datetime | None, *, now: datetime | None = None) -> Presence:
    """Online when the newest heartbeat is younger than the configured grace period."""
    if last_seen_at is None:
        return Presence.never
    grace = timedelta(seconds=get_settings().site_offline_grace_seconds)
    return Presence.online if (now or utcnow()) - last_seen_at <= grace else Presence.offline
