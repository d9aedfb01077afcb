"""JSON API of events, and the room's signalling WebSocket.

The WebSocket ``/events/{id}/room/signal`` carries the messages of
:mod:`streaming.media.signalling`. It opens with one server message::

    {"type": "welcome", "participant": "m12", "name": "...", "role": "participant",
     "moderator": false, "iceServers": [...], "people": {"m12": "...", ...}}

and is refused (closed before it opens, with a code the page explains) for a caller who is not
logged in (4401), may not enter the room (4403: not invited, or not found), when the event is
over (4410), or from another site's page (4403: its Origin is not this site's).

The broadcast: ``/events/{id}/live/index.m3u8`` (HLS, segments as direct links) and WHEP at
``POST /api/events/{id}/whep`` (``application/sdp`` offer, ``201`` with the answer and a
``Location`` to ``DELETE``), for a sub-venue site's device token or a logged-in viewer.
"""

import asyncio
import json
import shutil
import tempfile
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response, WebSocket, WebSocketDisconnect
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
from core.errors import NotAuthenticated, NotFound, PlatformError
from core.i18n import N_
from core.people.accounts import find_session_user
from core.people.models import User
from core.security import signing_key
from core.storage import ObjectNotFound, get_store
from courseware.delivery import direct_url, read_in_thread
from courseware.playlist import rewrite_playlist
from streaming.congress.meeting import Meeting
from streaming.congress.messages import TYPES as PROCEDURE
from streaming.congress.models import Attendance, Event, EventStatus, LogEntry, Motion
from streaming.congress.recording import keep_recording
from streaming.congress.service import (
    Attendee,
    attendee,
    get_event,
    get_watchable_event,
    visible_events,
)
from streaming.congress.viewers import viewers
from streaming.media.broadcast import PLAYLIST, PLAYLIST_TYPE, Program
from streaming.media.node import MediaNode, ice_servers
from streaming.media.signalling import RoomHost, SignallingError, error
from streaming.media.turn import ice_servers_for
from streaming.media.whep import WhepEndpoint
from terminals.sync.enrolment import device_for_token

router = APIRouter(prefix="/api/events", dependencies=[Depends(verify_csrf)], tags=["events"])
room_router = APIRouter(include_in_schema=False)

CLOSED_EVENT = frozenset({EventStatus.ended, EventStatus.cancelled})
MEDIA_AFTER_ADMISSION = frozenset({"publish", "subscribe", "answer"})
"""Media messages of someone in the lobby are refused: they are seen and heard once admitted."""


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


@room_router.post("/api/events/{event_id}/whep", status_code=201)
async def whep_offer(event_id: RowId, request: Request) -> Response:
    """WHEP: the program at WebRTC latency for a player's SDP offer (streaming.media.whep), for a
    sub-venue site's device (its bearer token) or a logged-in viewer who may watch."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/sdp":
        return Response("send the offer as application/sdp", status_code=415)
    await whep_viewer(request, event_id)
    program: Program | None = request.app.state.programs.get(event_id)
    if program is None:
        raise NotFound(N_("The broadcast has not started yet."))
    endpoints: dict[int, WhepEndpoint] = request.app.state.wheps
    endpoint = endpoints.get(event_id)
    if endpoint is None or endpoint.program is not program:
        node: MediaNode = request.app.state.media
        endpoint = endpoints[event_id] = WhepEndpoint(program, ice_servers(node.settings))
    offer = (await request.body()).decode("utf-8", errors="replace")
    try:
        session_id, answer = await endpoint.answer(offer)
    except SignallingError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain")
    return Response(
        answer,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/api/events/{event_id}/whep/{session_id}"},
    )


@room_router.delete("/api/events/{event_id}/whep/{session_id}")
async def whep_end(event_id: RowId, session_id: str, request: Request) -> Response:
    """WHEP: the player is done."""
    await whep_viewer(request, event_id)
    endpoint: WhepEndpoint | None = request.app.state.wheps.get(event_id)
    if endpoint is None or not await endpoint.end(session_id):
        raise NotFound(N_("No such viewing session."))
    return Response(status_code=200)


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


def live_prefix(event_id: int) -> str:
    return f"events/{event_id}/live"


@router.get("/{event_id}", response_model=EventRead)
def events_show(event_id: RowId, session: SessionDep, actor: CurrentUser) -> Any:
    """One event the caller may see."""
    return event_read(get_event(session=session, actor=actor, event_id=event_id))


def same_site(websocket: WebSocket) -> bool:
    """A browser names the page that opened a WebSocket in Origin, and cookies ride along: a
    page of another site must not open one in its visitor's name."""
    origin = websocket.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc == websocket.headers.get("host")


def room_key(event_id: int) -> str:
    return f"event-{event_id}"


def _entrant(session: Session, user: User, event_id: int) -> tuple[Attendee, EventStatus, dict]:
    event = get_event(session=session, actor=user, event_id=event_id)
    people = {f"m{i.member_id}": i.member.name for i in event.invitations}
    return attendee(session=session, actor=user, event=event), event.status, people


@room_router.websocket("/events/{event_id}/room/signal")
async def room_signal(websocket: WebSocket, event_id: int) -> None:
    """A participant's signalling with the room's media (see the module docstring)."""
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
    try:
        who, status, people = await unit_of_work(lambda session: _entrant(session, user, event_id))
    except PlatformError:
        await websocket.close(4403, "not found")
        return
    if not who.may_enter:
        await websocket.close(4403, "not invited")
        return
    if status in CLOSED_EVENT:
        await websocket.close(4410, "the event is over")
        return
    await websocket.accept()
    node: MediaNode = websocket.app.state.media
    host = node.host(room_key(event_id))
    meeting = await meeting_for(websocket.app.state, event_id, host)

    async def send(message: dict[str, Any]) -> None:
        # Others' messages reach this page from their handlers: a socket that closed (whatever
        # the server reports it with) must not fail them. Its own receive loop notices.
        with suppress(Exception):
            await websocket.send_json(message)

    session = await host.connect(who.participant_key, send)
    await send(
        {
            "type": "welcome",
            "participant": who.participant_key,
            "name": who.name,
            "role": who.role.value if who.role is not None else None,
            "moderator": who.moderator,
            "iceServers": [
                server.model_dump()
                for server in ice_servers_for(node.settings, who.participant_key)
            ],
            "people": people,
        }
    )
    await meeting.arrive(who)
    try:
        while True:
            text = await websocket.receive_text()
            kind = message_type(text)
            if kind in PROCEDURE:
                await meeting.handle(who, text)
                if meeting.status is EventStatus.live:
                    start_program(websocket.app.state, event_id, host)
                if meeting.status is EventStatus.ended:
                    await end_meeting(websocket.app.state, event_id)
                    return
            elif kind in MEDIA_AFTER_ADMISSION and not meeting.present(who.participant_key):
                await send(error("refused", "wait to be admitted"))
            else:
                await session.handle(text)
    except WebSocketDisconnect:
        host.disconnected(session)


def message_type(text: str) -> str | None:
    """The ``type`` of a JSON message, or None (the media session then explains what is wrong)."""
    with suppress(ValueError):
        message = json.loads(text)
        if isinstance(message, dict) and isinstance(message.get("type"), str):
            return str(message["type"])
    return None


async def meeting_for(state: Any, event_id: int, host: RoomHost) -> Meeting:
    """The meeting of ``event_id`` on this node, made when its first participant arrives."""
    meetings: dict[int, Meeting] = state.meetings
    meeting = meetings.get(event_id)
    if meeting is None or meeting.host is not host:
        meeting = meetings[event_id] = await unit_of_work(
            lambda session: take_up(session, event_id, host)
        )
        host.on_departure = meeting.depart
    return meeting


def take_up(session: Session, event_id: int, host: RoomHost) -> Meeting:
    """The meeting as its record leaves it. Stretches of attendance still open were cut by a
    stop of the node that held the meeting: they end at its last recorded fact."""
    event = session.get_one(Event, event_id)
    record = list(
        session.scalars(select(LogEntry).where(LogEntry.event_id == event_id).order_by(LogEntry.id))
    )
    motions = session.scalars(
        select(Motion).where(Motion.event_id == event_id).order_by(Motion.id)
    ).all()
    cut = record[-1].at if record else None
    for stretch in session.scalars(
        select(Attendance).where(Attendance.event_id == event_id, Attendance.left_at.is_(None))
    ):
        stretch.left_at = max(stretch.joined_at, cut or stretch.joined_at)
    return Meeting.of(event, host, record, motions)


def start_program(state: Any, event_id: int, host: RoomHost) -> None:
    """Broadcast the meeting from its start (once): see streaming.media.broadcast."""
    if event_id not in state.programs:
        workdir = Path(tempfile.mkdtemp(prefix=f"yuanjiao-live-{event_id}-"))
        program = Program(host.room, get_store(), live_prefix(event_id), workdir)
        program.start()
        state.programs[event_id] = program


async def end_meeting(state: Any, event_id: int) -> None:
    """The chair ended it: every page was told; the broadcast's playlist is closed, and the
    room and its media close."""
    state.meetings.pop(event_id, None)
    program: Program | None = state.programs.pop(event_id, None)
    endpoint: WhepEndpoint | None = state.wheps.pop(event_id, None)
    if endpoint is not None:
        await endpoint.close()
    if program is not None:
        await program.stop()
        shutil.rmtree(program.workdir, ignore_errors=True)
        await asyncio.to_thread(
            keep_recording, store=get_store(), event_id=event_id, live_prefix=live_prefix(event_id)
        )
    await state.media.close_room(room_key(event_id))
