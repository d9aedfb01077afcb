"""Telling the invited: a notice when an event is scheduled, and a reminder shortly before it
starts, through the notifier (in the app, and by e-mail or SMS where those are switched on).
The link opens the event's page, which works on a phone and leads into the room."""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.i18n import N_, gettext
from core.localtime import local_time
from core.notify.models import Notice
from core.notify.service import notify
from core.settings import get_settings
from streaming.congress.models import Event, EventStatus

INVITATION, REMINDER = "event_invitation", "event_reminder"


def _tell(session: Session, event: Event, category: str, title: str) -> list[Notice]:
    users = [i.member.user_id for i in event.invitations if i.member.user_id is not None]
    locale = get_settings().default_locale
    starts = local_time(event.starts_at).strftime("%Y-%m-%d %H:%M")
    agenda = "；".join(item.title for item in event.agenda)
    body = gettext(locale, N_("Starts %(time)s (Beijing time)."), time=starts)
    if agenda:
        body += " " + gettext(locale, N_("Agenda: %(agenda)s"), agenda=agenda)
    return notify(
        session=session,
        recipients=users,
        category=category,
        title=gettext(locale, title, title=event.title, time=starts),
        body=body[:1000],
        link=f"/events/{event.id}",
    )


def send_invitations(*, session: Session, event: Event) -> list[Notice]:
    """Tell every invited member with a login that the event is scheduled."""
    return _tell(session, event, INVITATION, N_("Invitation: %(title)s, %(time)s"))


def send_reminders(*, session: Session, now: datetime) -> int:
    """Remind the invited of each event starting within the reminder window, once; returns
    how many events were reminded of."""
    horizon = now + timedelta(minutes=get_settings().event_reminder_minutes)
    due = session.scalars(
        select(Event).where(
            Event.status == EventStatus.scheduled,
            Event.reminded_at.is_(None),
            Event.starts_at <= horizon,
            Event.starts_at >= now - timedelta(hours=1),
        )
    ).all()
    for event in due:
        _tell(session, event, REMINDER, N_("Starting soon: %(title)s, %(time)s"))
        event.reminded_at = now
    return len(due)
