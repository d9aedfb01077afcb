"""Signalling with real aiortc clients: publish, receive the room with its layout, bad input
answered with a clear error while the room goes on, and a reconnect keeping one's media."""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import av
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from streaming.media.room import MediaRoom
from streaming.media.signalling import RoomHost, Session
from tests.streaming.peers import Microphone, NumberedCamera, peer, prefer, run, until

pytestmark = pytest.mark.engine_neutral  # peers on loopback; no database or queue


@dataclass
class Client:
    """A participant's browser, played by aiortc: its inbox is what the server sent it."""

    name: str
    session: Session
    inbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    peers: list[RTCPeerConnection] = field(default_factory=list)
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)
    layout: dict[str, Any] = field(default_factory=dict)

    async def say(self, message: dict[str, Any] | str) -> None:
        await self.session.handle(message if isinstance(message, str) else json.dumps(message))

    async def expect(self, kind: str) -> dict[str, Any]:
        while True:
            message = await asyncio.wait_for(self.inbox.get(), 10)
            if message["type"] == "layout":
                self.layout = message
            if message["type"] == kind:
                return message
            assert message["type"] in ("layout", "offer", "answer"), message

    async def publish(self, tint: int) -> None:
        connection = peer()
        prefer(connection.addTransceiver(NumberedCamera(tint), direction="sendonly"), "video/H264")
        connection.addTransceiver(Microphone(loud=False), direction="sendonly")
        await connection.setLocalDescription(await connection.createOffer())
        await self.say({"type": "publish", "sdp": connection.localDescription.sdp})
        answer = await self.expect("answer")
        await connection.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        self.peers.append(connection)

    async def subscribe(self) -> None:
        connection = peer()
        connection.on("track", lambda track: None)
        await self.say({"type": "subscribe"})
        offer = await self.expect("offer")
        await connection.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await connection.setLocalDescription(await connection.createAnswer())
        await self.say({"type": "answer", "sdp": connection.localDescription.sdp})
        self.tracks = {t.mid: t.receiver.track for t in connection.getTransceivers() if t.mid}
        self.peers.append(connection)

    def mid_of(self, participant: str) -> str | None:
        return next(
            (s["mid"] for s in self.layout.get("video", []) if s["participant"] == participant),
            None,
        )


async def enter(host: RoomHost, name: str) -> Client:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        await inbox.put(message)

    return Client(name, await host.connect(name, send), inbox)


async def first_tint(track: MediaStreamTrack) -> int:
    """Decode the track until a picture comes; return its tint (which camera it is)."""
    decoder = av.CodecContext.create("h264", "r")
    while True:
        for frame in decoder.decode(await asyncio.wait_for(track.recv(), 5)):
            chroma = frame.planes[1]
            return bytes(chroma)[(frame.height // 4) * chroma.line_size + frame.width // 4]


def test_two_participants_publish_and_each_sees_the_other_where_the_layout_says() -> None:
    async def scenario() -> None:
        host = RoomHost(MediaRoom(tiles=2), ice_servers=[])
        chair, member = await enter(host, "chair"), await enter(host, "member")
        for client, tint in ((chair, 60), (member, 200)):
            await client.publish(tint)
            await client.subscribe()
        for viewer, other, tint in ((chair, "member", 200), (member, "chair", 60)):
            await until(lambda v=viewer, o=other: v.mid_of(o) is not None or _drain(v), 5, "layout")
            mid = viewer.mid_of(other)
            assert mid is not None and viewer.mid_of(viewer.name) is None
            assert abs(await first_tint(viewer.tracks[mid]) - tint) < 10
        await host.close()
        await asyncio.gather(*(p.close() for c in (chair, member) for p in c.peers))

    run(scenario)


def _drain(client: Client) -> bool:
    """Take the layouts waiting in the inbox (the newest wins); never the condition itself."""
    while not client.inbox.empty():
        message = client.inbox.get_nowait()
        if message["type"] == "layout":
            client.layout = message
    return False


def test_bad_messages_get_a_clear_error_and_the_room_goes_on() -> None:
    async def scenario() -> None:
        host = RoomHost(MediaRoom(), ice_servers=[])
        client = await enter(host, "member")
        two_cameras = peer()
        for _ in range(2):
            two_cameras.addTransceiver(NumberedCamera(), direction="sendonly")
        await two_cameras.setLocalDescription(await two_cameras.createOffer())
        cases = [
            ("{not json", "bad_message"),
            ({"type": "shout"}, "bad_message"),
            ({"type": "publish"}, "bad_message"),
            ({"type": "publish", "sdp": "v=0\r\nnonsense"}, "bad_sdp"),
            ({"type": "publish", "sdp": "v=0\r\n" + "a=x\r\n" * 20_000}, "bad_message"),
            ({"type": "answer", "sdp": "v=0\r\n"}, "bad_state"),
            ({"type": "publish", "sdp": two_cameras.localDescription.sdp}, "bad_sdp"),
        ]
        for message, code in cases:
            await client.say(message)
            reply = await client.expect("error")
            assert reply["code"] == code and reply["message"], (message, reply)
        assert host.room.publications == {}
        await client.publish(100)  # the same session still works
        assert host.room.publications["member"].video is not None
        await host.close()
        await asyncio.gather(two_cameras.close(), *(p.close() for p in client.peers))

    run(scenario)


def test_a_reconnect_keeps_the_participants_media_and_a_lost_one_leaves_after_the_grace() -> None:
    async def scenario() -> None:
        host = RoomHost(MediaRoom(), ice_servers=[])
        viewer = await enter(host, "viewer")
        await viewer.subscribe()
        speaker = await enter(host, "speaker")
        await speaker.publish(60)
        await until(lambda: viewer.mid_of("speaker") is not None or _drain(viewer), 5, "seat")
        # A blip: the channel drops, and comes back before the grace ends.
        host.disconnected(speaker.session, grace=0.5)
        again = await enter(host, "speaker")
        assert (await speaker.expect("replaced"))["type"] == "replaced"
        await speaker.say({"type": "leave"})  # the old session is over: this changes nothing
        await again.publish(200)  # the new connection's camera takes the same seat
        await asyncio.sleep(0.8)
        assert "speaker" in host.room.publications
        mid = viewer.mid_of("speaker")
        assert mid is not None
        await until(
            lambda: abs(_latest_tint(viewer, mid) - 200) < 10, 5, "the new camera's picture"
        )
        # Gone for good: after the grace, the room lets them go and frees the seat.
        host.disconnected(again.session, grace=0.2)
        await until(lambda: "speaker" not in host.room.publications, 5, "the departure")
        await until(lambda: viewer.mid_of("speaker") is None or _drain(viewer), 5, "seat freed")
        await host.close()
        await asyncio.gather(*(p.close() for c in (viewer, speaker, again) for p in c.peers))

    run(scenario)


_decoders: dict[str, Any] = {}
_tints: dict[str, int] = {}


def _latest_tint(client: Client, mid: str) -> int:
    """The tint of the newest picture received on ``mid`` so far (decoding what has arrived
    since the last look, without waiting)."""
    decoder = _decoders.setdefault(mid, av.CodecContext.create("h264", "r"))
    arrived = client.tracks[mid]._queue  # type: ignore[attr-defined]
    while not arrived.empty() and (packet := arrived.get_nowait()) is not None:
        for frame in decoder.decode(packet):
            chroma = frame.planes[1]
            middle = (frame.height // 4) * chroma.line_size + frame.width // 4
            _tints[mid] = bytes(chroma)[middle]
    return _tints.get(mid, -1000)
