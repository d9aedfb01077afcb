"""The program feed's token: an administrator of the event's organisation issues it (on the
event's page or with `yuanjiao events whip-token`) and sets it in the main venue's encoder as
the WHIP bearer token (streaming.media.whip). It is shown once and kept as its SHA-256, as a
site's device token is; issuing another revokes the one before."""

import hmac
import secrets

from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from core.i18n import N_
from core.people.models import User
from core.people.permissions import can_manage_org
from streaming.congress.models import CLOSED_EVENT, Event, EventStatus
from streaming.congress.service import get_event
from terminals.sync.enrolment import token_hash


def whip_url(base_url: str, event_id: int) -> str:
    """The address an encoder publishes the event's program feed to."""
    return f"{base_url.rstrip('/')}/api/events/{event_id}/whip"


class FeedRefused(InvalidInput):
    """The event takes no program feed now (it is over)."""


def issue_whip_token(*, session: Session, actor: User, event_id: int, address: str = "") -> str:
    """A new WHIP token for the event's encoder (returned once, stored hashed); the earlier one
    stops working."""
    event = get_event(session=session, actor=actor, event_id=event_id)
    if not can_manage_org(actor, event.org):
        raise PermissionDenied(
            N_("Only an administrator of the event's organisation may issue its feed token.")
        )
    if event.status in CLOSED_EVENT:
        raise FeedRefused(N_("The event is over: it takes no program feed."))
    rotated = event.whip_token_hash is not None
    token = secrets.token_urlsafe(32)
    event.whip_token_hash, event.whip_token_issued_at = token_hash(token), utcnow()
    record(
        session=session,
        action="whip_token_issued",
        actor=actor,
        target_type="event",
        target_id=event.id,
        org_id=event.org_id,
        address=address,
        detail={"rotated": rotated},
    )
    return token


def feed_event(*, session: Session, event_id: int, token: str) -> Event:
    """The event whose program feed ``token`` may send: NotAuthenticated for a missing, wrong
    or replaced token, FeedRefused once the event is over."""
    event = session.get(Event, event_id)
    if event is None or event.status is EventStatus.cancelled:
        raise NotFound(N_("Event %(id)s not found."), id=event_id)
    if not token or event.whip_token_hash is None:
        raise NotAuthenticated(
            N_("The program feed needs the event's WHIP token as its bearer token.")
        )
    if not hmac.compare_digest(event.whip_token_hash, token_hash(token)):
        raise NotAuthenticated(
            N_("This WHIP token is not the event's (a newer one may have replaced it).")
        )
    if event.status in CLOSED_EVENT:
        raise FeedRefused(N_("The event is over: it takes no program feed."))
    return event
