"""A participant's signalling with the media node: JSON messages over the room's WebSocket.

Each participant has two peer connections: one they publish on (their offer, our answer) and one
they receive the room on (our offer, their answer), so the room never has to renegotiate a
participant's camera to change what they watch. Descriptions are complete (ICE gathered before
sending, as WHIP does): no trickle messages.

Client to server::

    {"type": "publish", "sdp": "<offer: at most one audio and one video track, sendonly>"}
    {"type": "subscribe"}
    {"type": "answer", "sdp": "<answer to the server's subscribe offer>"}
    {"type": "leave"}

Server to client::

    {"type": "answer", "sdp": "..."}                  the publish answer
    {"type": "offer", "sdp": "..."}                   the room, to receive: answer it
    {"type": "layout", "video": [{"mid": "0", "participant": "m12"}, ...],
     "audio": [{"mid": "8", "participant": null}, ...], "speaker": "m7"}
    {"type": "error", "code": "bad_message" | "bad_sdp" | "bad_state", "message": "..."}
    {"type": "replaced"}     the participant joined again elsewhere (another tab or device):
                             this session is over and hears nothing more

An error answers only the message that caused it; the session and the room go on.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from aiortc import (
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
    sdp,
)
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from streaming.media.forwarder import connect
from streaming.media.peers import local_sdp, new_peer_connection
from streaming.media.room import MediaRoom, Subscription

SDP_LIMIT = 64_000
"""Characters: a browser's offer for two tracks is 4–8 k; anything far larger is not one."""

RECONNECT_GRACE = 30.0
"""Seconds a participant whose signalling dropped keeps their media, for a reconnect to take."""

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Publish(BaseModel):
    type: Literal["publish"]
    sdp: str = Field(max_length=SDP_LIMIT)


class Subscribe(BaseModel):
    type: Literal["subscribe"]


class Answer(BaseModel):
    type: Literal["answer"]
    sdp: str = Field(max_length=SDP_LIMIT)


class Leave(BaseModel):
    type: Literal["leave"]


MESSAGE = TypeAdapter(Annotated[Publish | Subscribe | Answer | Leave, Field(discriminator="type")])


class SignallingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def prefer(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    """Negotiate only ``mime_type`` (and, for video, its retransmissions) on a transceiver."""
    codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences(
        [c for c in codecs if c.mimeType.lower() in (mime_type.lower(), "video/rtx")]
    )


class Session:
    """One participant's signalling; a new session for the same participant replaces this one
    (a reconnect after a network blip keeps their place: the room knows them by id)."""

    def __init__(self, host: "RoomHost", participant: str, send: Send) -> None:
        self.host = host
        self.room = host.room
        self.participant = participant
        self.send = send
        self.ice_servers = host.ice_servers
        self.retired = False
        self.publishing: RTCPeerConnection | None = None
        self.receiving: RTCPeerConnection | None = None
        self.subscription: Subscription | None = None

    async def handle(self, text: str | bytes) -> None:
        if self.retired:
            return
        try:
            message = MESSAGE.validate_json(text)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            await self.send(error("bad_message", f"{where}: {problem['msg']}".lstrip(": ")))
            return
        try:
            if isinstance(message, Publish):
                await self._publish(message.sdp)
            elif isinstance(message, Subscribe):
                await self._subscribe()
            elif isinstance(message, Answer):
                await self._answered(message.sdp)
            else:
                await self.host.leave(self)
        except SignallingError as exc:
            await self.send(error(exc.code, str(exc)))

    async def _publish(self, offer: str) -> None:
        kinds = offered_kinds(offer)
        connection = new_peer_connection(self.ice_servers)
        # Made before the offer is read, in its order (aiortc bundles on the first one), so the
        # answer carries the room's one video codec: every viewer's slot is negotiated with it.
        for kind in kinds:
            transceiver = connection.addTransceiver(kind, direction="recvonly")
            if kind == "video":
                prefer(transceiver, self.room.video_codec)
        try:
            await connection.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await connection.setLocalDescription(await connection.createAnswer())
        except Exception as exc:  # aiortc reports a bad description with many exception types
            await connection.close()
            raise SignallingError("bad_sdp", f"the offer was refused: {exc}") from exc
        if self.publishing is not None:
            await self.publishing.close()
        self.publishing = connection
        for transceiver in connection.getTransceivers():
            track = transceiver.receiver.track
            if transceiver.mid is not None and track is not None:
                self.room.publish(self.participant, track, transceiver.receiver)
        await self.send({"type": "answer", "sdp": local_sdp(connection, self.host.announced)})

    async def _subscribe(self) -> None:
        if self.receiving is not None:
            await self.receiving.close()
        connection = new_peer_connection(self.ice_servers)
        subscription = self.room.subscribe(self.participant)
        for outlet in subscription.video + subscription.audio:
            transceiver = connection.addTransceiver(outlet, direction="sendonly")
            if outlet.kind == "video":
                prefer(transceiver, self.room.video_codec)
            connect(transceiver.sender, outlet)
        await connection.setLocalDescription(await connection.createOffer())
        self.receiving, self.subscription = connection, subscription
        await self.send({"type": "offer", "sdp": local_sdp(connection, self.host.announced)})
        await self.send(self.layout())

    async def _answered(self, answer: str) -> None:
        if self.receiving is None or self.receiving.signalingState != "have-local-offer":
            raise SignallingError("bad_state", "there is no offer to answer: subscribe first")
        try:
            await self.receiving.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        except Exception as exc:  # as in _publish
            raise SignallingError("bad_sdp", f"the answer was refused: {exc}") from exc

    def layout(self) -> dict[str, Any]:
        """Who is in each of this participant's slots and lanes, by the transceivers' mids."""
        assert self.receiving is not None and self.subscription is not None
        mids = [t.mid for t in self.receiving.getTransceivers()]
        slots = len(self.subscription.video)
        return {
            "type": "layout",
            "video": [
                {"mid": mid, "participant": who}
                for mid, who in zip(mids[:slots], self.subscription.seated, strict=True)
            ],
            "audio": [
                {"mid": mid, "participant": who}
                for mid, who in zip(mids[slots:], self.subscription.heard, strict=True)
            ],
            "speaker": self.room.speaker.current,
        }

    async def leave(self) -> None:
        """Leave the room's media (the meeting's own record of presence is kept elsewhere)."""
        await self.room.leave(self.participant)
        await self.hang_up()

    async def retire(self) -> None:
        """Give way to a newer session of the same participant."""
        self.retired = True
        await self.hang_up()
        await self.send({"type": "replaced"})

    async def hang_up(self) -> None:
        for connection in (self.publishing, self.receiving):
            if connection is not None:
                await connection.close()
        self.publishing = self.receiving = None
        self.subscription = None


def offered_kinds(offer: str) -> list[str]:
    """The media of a publish offer, in order: at most one audio and one video track."""
    try:
        kinds = [media.kind for media in sdp.SessionDescription.parse(offer).media]
    except Exception as exc:  # the parser raises whatever a malformed line makes it raise
        raise SignallingError("bad_sdp", f"the offer is not SDP: {exc}") from exc
    if not kinds or len(set(kinds)) != len(kinds) or not set(kinds) <= {"audio", "video"}:
        raise SignallingError("bad_sdp", "publish at most one audio and one video track")
    return kinds


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


class RoomHost:
    """A room on its media node: its media and the signalling session of each participant."""

    def __init__(
        self, room: MediaRoom, ice_servers: list[RTCIceServer], announced: str = ""
    ) -> None:
        self.room = room
        self.ice_servers = ice_servers
        self.announced = announced
        """The address browsers reach this node at, if not its own (peers.local_sdp)."""
        self.sessions: dict[str, Session] = {}
        self.on_departure: Callable[[str], Awaitable[None]] | None = None
        """Told when a participant is gone for good (what holds the meeting's roll listens)."""
        self._departures: dict[str, asyncio.TimerHandle] = {}
        room.on_layout = self._tell_layout

    async def connect(self, participant: str, send: Send) -> Session:
        """A participant's signalling channel opened: a reconnect takes over the old session."""
        departure = self._departures.pop(participant, None)
        if departure is not None:
            departure.cancel()
        previous = self.sessions.get(participant)
        if previous is not None:
            await previous.retire()
        session = Session(self, participant, send)
        self.sessions[participant] = session
        return session

    def disconnected(self, session: Session, grace: float = RECONNECT_GRACE) -> None:
        """The channel closed: keep their media ``grace`` seconds for a reconnect, then leave."""
        if self.sessions.get(session.participant) is not session:
            return
        self._departures[session.participant] = asyncio.get_running_loop().call_later(
            grace, lambda: asyncio.ensure_future(self.leave(session))
        )

    async def leave(self, session: Session) -> None:
        """``session``'s participant is gone for good (unless a newer session took over)."""
        departure = self._departures.pop(session.participant, None)
        if departure is not None:
            departure.cancel()
        if self.sessions.get(session.participant) is not session:
            return
        del self.sessions[session.participant]
        await session.leave()
        if self.on_departure is not None:
            await self.on_departure(session.participant)

    async def close(self) -> None:
        for departure in self._departures.values():
            departure.cancel()
        for session in list(self.sessions.values()):
            await session.hang_up()
        await self.room.close()

    def _tell_layout(self, participant: str, subscription: Subscription) -> None:
        session = self.sessions.get(participant)
        if session is not None and session.subscription is subscription:
            asyncio.ensure_future(session.send(session.layout()))
