"""The meetings one process holds: their rooms, programs, program feeds and low-latency viewers.

A media node (``yuanjiao media``, or ``yuanjiao run`` in-process) holds every meeting placed on
it (streaming.media.placement); web nodes send each participant's signalling here (see api).
It says it is alive every few seconds; when it stops, its meetings go to another node, which
takes each one up from its record and continues its broadcast."""

import asyncio
import json
import logging
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.websockets import WebSocket, WebSocketDisconnect

from core.api import unit_of_work
from core.settings import Settings
from core.storage import get_store
from streaming.congress.meeting import Meeting
from streaming.congress.messages import TYPES as PROCEDURE
from streaming.congress.models import Attendance, Event, EventStatus, LogEntry, Motion
from streaming.congress.recording import keep_recording
from streaming.congress.service import Attendee
from streaming.media.broadcast import Program
from streaming.media.node import MediaNode, ice_servers
from streaming.media.placement import Liveness, heartbeat, release, retire
from streaming.media.room import Publication
from streaming.media.signalling import RoomHost, error
from streaming.media.turn import ice_servers_for
from streaming.media.whep import WhepEndpoint
from streaming.media.whip import WhipEndpoint

log = logging.getLogger(__name__)

MEDIA_AFTER_ADMISSION = frozenset({"publish", "subscribe", "answer"})
"""Media messages of someone in the lobby are refused: they are seen and heard once admitted."""


def room_key(event_id: int) -> str:
    return f"event-{event_id}"


def live_prefix(event_id: int) -> str:
    return f"events/{event_id}/live"


def liveness(settings: Settings) -> Liveness:
    return Liveness(settings.media_heartbeat_seconds, settings.media_node_timeout_seconds)


class MeetingHost:
    """The meetings of this node, known to the others as ``url``."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.settings = settings
        self.url = url
        self.media = MediaNode(settings)
        self.meetings: dict[int, Meeting] = {}
        self.programs: dict[int, Program] = {}
        self.wheps: dict[int, WhepEndpoint] = {}
        self.whips: dict[int, WhipEndpoint] = {}
        self._beating: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Say this node is alive, now and every few seconds."""
        await self._beat_once()
        self._beating = asyncio.ensure_future(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.media_heartbeat_seconds)
            await self._beat_once()

    async def _beat_once(self) -> None:
        try:
            await unit_of_work(lambda session: heartbeat(session, self.url))
        except Exception:  # the database away a moment: the node waits, and says it next beat
            log.warning("media node %s could not record its heartbeat", self.url, exc_info=True)

    async def close(self) -> None:
        """Stop: the rooms close, and the node leaves the register (its meetings move)."""
        if self._beating is not None:
            self._beating.cancel()
        for program in self.programs.values():
            await program.stop()
        for endpoint in self.wheps.values():
            await endpoint.close()
        for feed in self.whips.values():
            await feed.close()
        await self.media.close()
        try:
            await unit_of_work(lambda session: retire(session, self.url))
        except Exception:  # the database away: the others notice the silence instead
            log.warning("media node %s could not leave the register", self.url, exc_info=True)

    async def serve(
        self, websocket: WebSocket, event_id: int, who: Attendee, people: dict[str, str]
    ) -> None:
        """A participant's signalling, on an accepted WebSocket, until it closes."""
        host = self.media.host(room_key(event_id))
        meeting = await self.meeting_for(event_id, host)

        async def send(message: dict[str, Any]) -> None:
            # Others' messages reach this page from their handlers: a socket that closed
            # (whatever the server reports it with) must not fail them. Its own loop notices.
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
                    for server in ice_servers_for(self.settings, who.participant_key)
                ],
                "people": people,
                "videoCodec": host.room.video_codec,
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
                        await self.start_program(event_id, host)
                    if meeting.status is EventStatus.ended:
                        await self.end_meeting(event_id)
                        return
                elif kind in MEDIA_AFTER_ADMISSION and not meeting.present(who.participant_key):
                    await send(error("refused", "wait to be admitted"))
                else:
                    await session.handle(text)
        except WebSocketDisconnect:
            host.disconnected(session)

    async def meeting_for(self, event_id: int, host: RoomHost) -> Meeting:
        """The meeting of ``event_id`` here, taken up from its record when its first participant
        arrives (a live one goes on broadcasting)."""
        meeting = self.meetings.get(event_id)
        if meeting is None or meeting.host is not host:
            meeting = self.meetings[event_id] = await unit_of_work(
                lambda session: take_up(session, event_id, host)
            )
            host.on_departure = meeting.depart
            if meeting.status is EventStatus.live:
                await self.start_program(event_id, host)
        return meeting

    async def start_program(self, event_id: int, host: RoomHost) -> None:
        """Broadcast the meeting from its start, once here; after another node's, it goes on
        from that node's last segment (streaming.media.broadcast)."""
        if event_id in self.programs:
            return
        workdir = Path(tempfile.mkdtemp(prefix=f"yuanjiao-live-{event_id}-"))
        program = self.programs[event_id] = Program(
            host.room, get_store(), live_prefix(event_id), workdir
        )
        await asyncio.to_thread(program.take_up)
        whip = self.whips.get(event_id)
        program.feed = whip.feed if whip is not None else None
        program.start()

    async def end_meeting(self, event_id: int) -> None:
        """The chair ended it: every page was told; the broadcast's playlist is closed, the
        recording kept, and the room and its media close."""
        self.meetings.pop(event_id, None)
        program = self.programs.pop(event_id, None)
        endpoint = self.wheps.pop(event_id, None)
        if endpoint is not None:
            await endpoint.close()
        whip = self.whips.pop(event_id, None)
        if whip is not None:
            await whip.close()
        if program is not None:
            await program.stop()
            shutil.rmtree(program.workdir, ignore_errors=True)
            await asyncio.to_thread(
                keep_recording,
                store=get_store(),
                event_id=event_id,
                live_prefix=live_prefix(event_id),
            )
        await self.media.close_room(room_key(event_id))
        await unit_of_work(lambda session: release(session, room_key(event_id)))

    def whep(self, event_id: int) -> WhepEndpoint | None:
        """The low-latency viewers' endpoint of the event's program, if it is on here."""
        program = self.programs.get(event_id)
        if program is None:
            return None
        endpoint = self.wheps.get(event_id)
        if endpoint is None or endpoint.program is not program:
            endpoint = self.wheps[event_id] = WhepEndpoint(
                program, ice_servers(self.settings), self.settings.media_announced_address
            )
        return endpoint

    async def whip(self, event_id: int) -> WhipEndpoint:
        """The program feed's endpoint of the event, its meeting taken up here: an encoder may
        connect before anyone enters the room, and its feed is broadcast once the chair starts
        the meeting (the broadcast starts with the meeting, never before)."""
        await self.meeting_for(event_id, self.media.host(room_key(event_id)))
        endpoint = self.whips.get(event_id)
        if endpoint is None:

            def show(feed: Publication | None) -> None:
                program = self.programs.get(event_id)
                if program is not None:
                    program.feed = feed

            endpoint = self.whips[event_id] = WhipEndpoint(
                ice_servers(self.settings), self.settings.media_announced_address, show
            )
        return endpoint


def message_type(text: str) -> str | None:
    """The ``type`` of a JSON message, or None (the media session then explains what is wrong)."""
    with suppress(ValueError):
        message = json.loads(text)
        if isinstance(message, dict) and isinstance(message.get("type"), str):
            return str(message["type"])
    return None


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
