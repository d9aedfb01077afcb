"""JSON API of events, and the room's signalling WebSocket.

The WebSocket ``/events/{id}/room/signal`` carries the messages of
:mod:`streaming.media.signalling`. It opens with one server message::

    {"type": "welcome", "participant": "m12", "name": "...", "role": "participant",
     "moderator": false, "iceServers": [...], "people": {"m12": "...", ...},
     "videoCodec": "video/H264"}

and is refused (closed before it opens, with a code the page explains) for a caller who is not
logged in (4401), may not enter the room (4403: not invited, or not found), when the event is
over (4410), or from another site's page (4403: its Origin is not this site's).

On a web node that does not hold the meeting, the socket is relayed to the media node that does
(``/node/events/{id}/room``, with a ticket); a node that cannot be reached, or goes away, closes
it with 1012, and the page reconnects (to the node the meeting moves to, if it moves).

The broadcast: ``/events/{id}/live/index.m3u8`` (HLS, segments as direct links) and WHEP at
``POST /api/events/{id}/whep`` (``application/sdp`` offer, ``201`` with the answer and a
``Location`` to ``DELETE``), for a sub-venue site's device token or a logged-in viewer.

The program feed: WHIP at ``POST /api/events/{id}/whip`` (the same exchange), for the event's
WHIP token as the bearer token (streaming.congress.feed): 401 without it, 409 while another
feed is on or once the event is over, 400 for an offer that is not H.264 and Opus.
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends, Request, Response, WebSocket
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.api import (
    SESSION_TOKEN,
    CurrentUser,
    RowId,
    SessionDep,
    session_user,
    unit_of_work,
    verify_csrf,
)
from core.errors import NotAuthenticated, NotFound, PlatformError, TemporaryError
from core.i18n import N_
from core.people.accounts import find_session_user
from core.people.models import User
from core.security import signing_key
from core.settings import get_settings
from core.storage import ObjectNotFound, get_store
from courseware.delivery import direct_url, read_in_thread
from courseware.playlist import rewrite_playlist
from streaming.congress import questions_api
from streaming.congress.feed import FeedRefused, feed_event
from streaming.congress.hosting import MeetingHost, live_prefix, liveness, room_key
from streaming.congress.models import CLOSED_EVENT, Event, EventStatus
from streaming.congress.service import (
    Attendee,
    attendee,
    get_event,
    get_watchable_event,
    visible_events,
)
from streaming.congress.viewers import viewers
from streaming.media.broadcast import PLAYLIST, PLAYLIST_TYPE
from streaming.media.placement import holder, place
from streaming.media.relay import NODE_AWAY, read_ticket, relay, ticket, websocket_url
from streaming.media.signalling import SignallingError
from streaming.media.whip import FeedBusy
from terminals.sites.models import Site
from terminals.sync.enrolment import device_for_token

router = APIRouter(prefix="/api/events", dependencies=[Depends(verify_csrf)], tags=["events"])
room_router = APIRouter(include_in_schema=False)
node_router = APIRouter(include_in_schema=False)
"""A media node's own routes: only a web node's ticket opens them (streaming.media.relay)."""

NodeAnswer = Callable[[MeetingHost, int, str, str, bytes], Awaitable[Response]]
"""How the node holding a meeting answers a request passed to it (WHEP, WHIP)."""


class EventRead(BaseModel):
    id: int
    org_id: int
    org_name: str
    kind: str
    level: str
    title: str
    description: str
    starts_at: str
    planned_minutes: int
    status: str
    agenda: list[str]
    invited: int
    sites: list[int]
    credit_hours: float


def event_read(event: Event) -> EventRead:
    return EventRead(
        id=event.id,
        org_id=event.org_id,
        org_name=event.org.name,
        kind=event.kind.value,
        level=event.level.value,
        title=event.title,
        description=event.description,
        starts_at=event.starts_at.isoformat(),
        planned_minutes=event.planned_minutes,
        status=event.status.value,
        agenda=[item.title for item in event.agenda],
        invited=len(event.invitations),
        sites=[venue.site_id for venue in event.venues],
        credit_hours=event.credit_hours,
    )


@router.get("", response_model=list[EventRead])
def events_index(session: SessionDep, actor: CurrentUser) -> Any:
    """Events the caller administers or is invited to, soonest first."""
    return [event_read(event) for event in session.scalars(visible_events(actor))]


@room_router.get("/events/{event_id}/live/index.m3u8")
async def live_playlist(event_id: RowId, request: Request, actor: CurrentUser) -> Response:
    """The broadcast's live playlist, its segments rewritten to direct links; each fetch
    also counts its viewer as watching."""
    await unit_of_work(
        lambda session: get_watchable_event(session=session, actor=actor, event_id=event_id)
    )
    viewers(request.app.state, event_id).seen(actor.id)
    return await program_playlist(event_id)


async def program_playlist(event_id: int) -> Response:
    """The broadcast's live playlist as it stands, each segment a direct link (for a caller
    already allowed to watch)."""
    store = get_store()
    folder = live_prefix(event_id)
    try:
        text = (await read_in_thread(store.get_bytes, f"{folder}/{PLAYLIST}")).decode()
    except ObjectNotFound as exc:
        raise NotFound(N_("The broadcast has not started yet.")) from exc
    secret = signing_key("media-link")
    ttl = timedelta(hours=6)
    body = rewrite_playlist(
        text, lambda uri: direct_url(store, f"{folder}/{uri}", ttl=ttl, secret=secret)
    )
    return Response(body, media_type=PLAYLIST_TYPE, headers={"Cache-Control": "no-cache"})


@room_router.get("/events/{event_id}/live/stats")
async def live_stats(event_id: RowId, request: Request, actor: CurrentUser) -> dict[str, Any]:
    """How many are watching the broadcast now, and whether it is on."""
    event = await unit_of_work(
        lambda session: get_watchable_event(session=session, actor=actor, event_id=event_id)
    )
    return {"viewers": viewers(request.app.state, event_id).count(), "status": event.status.value}


def offers_sdp(request: Request) -> bool:
    """Whether the body is an SDP offer, as WHEP and WHIP send it."""
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/sdp"


@room_router.post("/api/events/{event_id}/whep", status_code=201)
async def whep_offer(event_id: RowId, request: Request) -> Response:
    """WHEP: the program at WebRTC latency for a player's SDP offer (streaming.media.whep), for a
    sub-venue site's device (its bearer token) or a logged-in viewer who may watch; answered by
    the media node that holds the meeting."""
    if not offers_sdp(request):
        return Response("send the offer as application/sdp", status_code=415)
    await whep_viewer(request, event_id)
    return await to_holder(request, event_id, "POST", f"/node/events/{event_id}/whep", whep_here)


@room_router.delete("/api/events/{event_id}/whep/{session_id}")
async def whep_end(event_id: RowId, session_id: str, request: Request) -> Response:
    """WHEP: the player is done."""
    await whep_viewer(request, event_id)
    path = f"/node/events/{event_id}/whep/{session_id}"
    return await to_holder(request, event_id, "DELETE", path, whep_here)


@room_router.post("/api/events/{event_id}/whip", status_code=201)
async def whip_offer(event_id: RowId, request: Request) -> Response:
    """WHIP: the main venue's encoder publishes the program feed (streaming.media.whip) with the
    event's token; answered by the node holding the meeting, placed on one if nobody has
    entered the room yet (the feed is broadcast once the chair starts the meeting)."""
    if not offers_sdp(request):
        return Response("send the offer as application/sdp", status_code=415)
    refusal = await feed_refusal(request, event_id)
    if refusal is not None:
        return refusal
    path = f"/node/events/{event_id}/whip"
    return await to_holder(request, event_id, "POST", path, whip_here, placing=True)


@room_router.delete("/api/events/{event_id}/whip/{session_id}")
async def whip_end(event_id: RowId, session_id: str, request: Request) -> Response:
    """WHIP: the encoder stopped; the broadcast goes back to the room."""
    refusal = await feed_refusal(request, event_id)
    if refusal is not None:
        return refusal
    path = f"/node/events/{event_id}/whip/{session_id}"
    return await to_holder(request, event_id, "DELETE", path, whip_here)


async def feed_refusal(request: Request, event_id: int) -> Response | None:
    """Why the caller may not send the event's program feed, in plain text (encoders are
    devices), or None if they may."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token.strip() if scheme.lower() == "bearer" else ""
    try:
        await unit_of_work(
            lambda session: feed_event(session=session, event_id=event_id, token=given)
        )
    except NotAuthenticated as exc:
        return Response(
            str(exc), status_code=401, headers={"WWW-Authenticate": 'Bearer realm="whip"'}
        )
    except FeedRefused as exc:
        return Response(str(exc), status_code=409)
    except NotFound as exc:
        return Response(str(exc), status_code=404)
    return None


async def whip_here(
    here: MeetingHost, event_id: int, method: str, path: str, body: bytes
) -> Response:
    """WHIP's answer on the node holding the meeting."""
    if method == "DELETE":
        endpoint = here.whips.get(event_id)
        if endpoint is None or not await endpoint.end(path.rsplit("/", 1)[-1]):
            return Response("no such feed session", status_code=404)
        return Response(status_code=200)
    endpoint = await here.whip(event_id)
    try:
        session_id, answer = await endpoint.publish(body.decode("utf-8", errors="replace"))
    except SignallingError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain")
    except FeedBusy:
        return Response(
            "another encoder is sending this event's program feed: stop it first",
            status_code=409,
        )
    return Response(
        answer,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/api/events/{event_id}/whip/{session_id}"},
    )


async def to_holder(
    request: Request,
    event_id: int,
    method: str,
    path: str,
    answered_here: NodeAnswer,
    *,
    placing: bool = False,
) -> Response:
    """The request answered by the node holding the event's meeting: here, or passed on
    (``placing``: the meeting is placed on a node if none holds it yet)."""
    here: MeetingHost | None = request.app.state.meeting_host
    settings = get_settings()
    find = place if placing else holder
    url = await unit_of_work(lambda session: find(session, room_key(event_id), liveness(settings)))
    if url is None:
        raise NotFound(N_("The broadcast has not started yet."))
    body = await request.body()
    if here is not None and url == here.url:
        return await answered_here(here, event_id, method, path, body)
    async with httpx.AsyncClient(timeout=20) as client:
        try:
            answer = await client.request(
                method,
                url.rstrip("/") + path,
                content=body,
                headers={
                    "content-type": "application/sdp",
                    "authorization": f"Bearer {ticket(room_key(event_id), {})}",
                },
            )
        except httpx.HTTPError as exc:
            raise TemporaryError(N_("The broadcast's media node is not answering.")) from exc
    passed = {k: v for k, v in answer.headers.items() if k.lower() in ("location", "content-type")}
    return Response(answer.content, status_code=answer.status_code, headers=passed)


@node_router.post("/node/events/{event_id}/whep")
@node_router.delete("/node/events/{event_id}/whep/{session_id}")
@node_router.post("/node/events/{event_id}/whip")
@node_router.delete("/node/events/{event_id}/whip/{session_id}")
async def node_answer(event_id: int, request: Request) -> Response:
    """WHEP or WHIP on the node holding the meeting, for a web node's ticket."""
    here: MeetingHost | None = request.app.state.meeting_host
    _, _, token = request.headers.get("authorization", "").partition(" ")
    if here is None or read_ticket(token, room_key(event_id)) is None:
        return Response("a web node's ticket is needed", status_code=401)
    path = request.url.path
    answer = whip_here if path.split("/")[4] == "whip" else whep_here
    return await answer(here, event_id, request.method, path, await request.body())


async def whep_here(
    here: MeetingHost, event_id: int, method: str, path: str, body: bytes
) -> Response:
    """WHEP's answer on the node holding the meeting (plain text errors: players are devices)."""
    endpoint = here.whep(event_id)
    if endpoint is None:
        return Response("the broadcast has not started yet", status_code=404)
    if method == "DELETE":
        if not await endpoint.end(path.rsplit("/", 1)[-1]):
            return Response("no such viewing session", status_code=404)
        return Response(status_code=200)
    try:
        session_id, answer = await endpoint.answer(body.decode("utf-8", errors="replace"))
    except SignallingError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain")
    return Response(
        answer,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/api/events/{event_id}/whep/{session_id}"},
    )


async def whep_viewer(request: Request, event_id: int) -> None:
    """A site's device whose site is a sub-venue of the event, or a user who may watch it."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:

        def sub_venue(session: Session) -> None:
            device = device_for_token(session=session, token=token)
            event = session.get(Event, event_id)
            if event is None or device.site_id not in {v.site_id for v in event.venues}:
                raise NotFound(N_("Event %(id)s not found."), id=event_id)

        await unit_of_work(sub_venue)
        return
    user = await session_user(request)
    if user is None:
        raise NotAuthenticated(N_("Please log in."))
    await unit_of_work(
        lambda session: get_watchable_event(session=session, actor=user, event_id=event_id)
    )


router.include_router(questions_api.router)


@router.get("/{event_id}", response_model=EventRead)
def events_show(event_id: RowId, session: SessionDep, actor: CurrentUser) -> Any:
    """One event the caller may see."""
    return event_read(get_event(session=session, actor=actor, event_id=event_id))


def same_site(websocket: WebSocket) -> bool:
    """A browser names the page that opened a WebSocket in Origin, and cookies ride along: a
    page of another site must not open one in its visitor's name."""
    origin = websocket.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc == websocket.headers.get("host")


def _entrant(session: Session, user: User, event_id: int) -> tuple[Attendee, EventStatus, dict]:
    event = get_event(session=session, actor=user, event_id=event_id)
    people = {f"m{i.member_id}": i.member.name for i in event.invitations}
    venues = session.execute(
        select(Site.id, Site.name).where(Site.id.in_([venue.site_id for venue in event.venues]))
    )
    people.update({f"s{site_id}": name for site_id, name in venues})
    return attendee(session=session, actor=user, event=event), event.status, people


async def admitted(user: User, event_id: int) -> tuple[Attendee, dict[str, str]] | int:
    """Who ``user`` is in the event's room and the names of the invited; or the close code that
    refuses them (see the module docstring)."""
    try:
        who, status, people = await unit_of_work(lambda session: _entrant(session, user, event_id))
    except PlatformError:
        return 4403
    if not who.may_enter:
        return 4403
    if status in CLOSED_EVENT:
        return 4410
    return who, people


@room_router.websocket("/events/{event_id}/room/signal")
async def room_signal(websocket: WebSocket, event_id: int) -> None:
    """A participant's signalling with the room's media (see the module docstring), on this
    node if it holds the meeting, else relayed to the node that does."""
    token = websocket.session.get(SESSION_TOKEN)
    user = (
        await unit_of_work(lambda session: find_session_user(session=session, token=token))
        if isinstance(token, str)
        else None
    )
    if user is None:
        await websocket.close(4401, "log in first")
        return
    if not same_site(websocket):
        await websocket.close(4403, "cross-site")
        return
    entrant = await admitted(user, event_id)
    if isinstance(entrant, int):
        await websocket.close(entrant, "refused")
        return
    await websocket.accept()
    here: MeetingHost | None = websocket.app.state.meeting_host
    settings = get_settings()
    try:
        url = await unit_of_work(
            lambda session: place(session, room_key(event_id), liveness(settings))
        )
    except TemporaryError:
        await websocket.close(NODE_AWAY, "no media node")
        return
    if here is not None and url == here.url:
        await here.serve(websocket, event_id, *entrant)
        return
    entry = ticket(room_key(event_id), {"user": user.id})
    await relay(websocket, websocket_url(url, f"/node/events/{event_id}/room"), entry)


@node_router.websocket("/node/events/{event_id}/room")
async def node_room(websocket: WebSocket, event_id: int) -> None:
    """A participant a web node sends to the meeting held here, with its ticket."""
    here: MeetingHost | None = websocket.app.state.meeting_host
    _, _, token = websocket.headers.get("authorization", "").partition(" ")
    holder_of = read_ticket(token, room_key(event_id))
    await websocket.accept()
    user = (
        await unit_of_work(lambda session: session.get(User, holder_of.get("user")))
        if holder_of is not None
        else None
    )
    if here is None or user is None:
        await websocket.close(4401, "a web node's ticket is needed")
        return
    entrant = await admitted(user, event_id)
    if isinstance(entrant, int):
        await websocket.close(entrant, "refused")
        return
    await here.serve(websocket, event_id, *entrant)
