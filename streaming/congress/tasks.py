"""Recurring work of events: reminders before they start, checked every five minutes."""

from datetime import timedelta

from core.db import session_scope, utcnow
from core.jobs import recurring
from streaming.congress.invitations import send_reminders


@recurring("events.remind", every=timedelta(minutes=5))
def remind_events() -> int:
    """Remind the invited of the events starting soon."""
    with session_scope() as session:
        return send_reminders(session=session, now=utcnow())
