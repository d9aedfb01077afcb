"""Real aiortc peers on loopback for the forwarder's tests: a camera that numbers its frames, a
server side that forwards with streaming.media, and viewers that decode what reaches them."""

import asyncio
import math
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction

import av
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError

from streaming.media import passthrough
from streaming.media.forwarder import Feed, Outlet, connect
from streaming.media.peers import new_peer_connection
from streaming.media.room import MediaRoom, Subscription

WIDTH, HEIGHT = 320, 240


class NumberedCamera(VideoStreamTrack):
    """A camera whose picture brightness steps with every frame, so a viewer can tell frames
    apart after lossy coding (the luma value is 16 + 8 × (frame number mod 25)); its tint (the
    U plane) tells cameras apart."""

    def __init__(self, tint: int = 128) -> None:
        super().__init__()
        self.count = 0
        self.tint = tint

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        luma = 16 + 8 * (self.count % 25)
        for plane, fill in zip(frame.planes, (luma, self.tint, 128), strict=True):
            plane.update(bytes([fill]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        self.count += 1
        return frame


class Microphone(MediaStreamTrack):
    """A microphone with a tone (440 Hz unless said: a speaking voice at about -24 dBov) or
    near silence (-86 dBov), in 20 ms frames at 48 kHz."""

    kind = "audio"
    RATE, SAMPLES = 48000, 960

    def __init__(self, loud: bool, pitch: int = 440) -> None:
        super().__init__()
        self.amplitude = 3000 if loud else 3
        self.step = 2 * math.pi * pitch / self.RATE
        self.sample = 0
        self.started: float | None = None

    async def recv(self) -> av.AudioFrame:
        now = time.monotonic()
        if self.started is None:
            self.started = now
        else:
            await asyncio.sleep(max(0.0, self.started + self.sample / self.RATE - now))
        wave = array(
            "h",
            (
                int(self.amplitude * math.sin(self.step * (self.sample + i)))
                for i in range(self.SAMPLES)
            ),
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.SAMPLES)
        frame.planes[0].update(wave.tobytes())
        frame.sample_rate, frame.pts = self.RATE, self.sample
        frame.time_base = Fraction(1, self.RATE)
        self.sample += self.SAMPLES
        return frame


def peer() -> RTCPeerConnection:
    """A peer with no STUN server: loopback needs none, and this machine reaches no internet."""
    return new_peer_connection([])


def prefer(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences(
        [c for c in codecs if c.mimeType.lower() in (mime_type.lower(), "video/rtx")]
    )


async def negotiate(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


@dataclass
class Publisher:
    camera: NumberedCamera
    client: RTCPeerConnection
    server: RTCPeerConnection
    feed: Feed


async def publish(mime_type: str) -> Publisher:
    """A client sending its camera to the server, which reads it as a feed of encoded frames."""
    camera = NumberedCamera()
    client, server = peer(), peer()
    prefer(client.addTransceiver(camera, direction="sendonly"), mime_type)
    arrived: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
    server.on("track", arrived.set_result)
    await negotiate(client, server)
    track = await asyncio.wait_for(arrived, 10)
    receiver = next(t.receiver for t in server.getTransceivers() if t.receiver.track is track)
    return Publisher(camera, client, server, Feed(track, receiver))


@dataclass
class Viewer:
    """A subscriber that decodes every frame it receives and notes its brightness."""

    codec_name: str
    outlet: Outlet
    server: RTCPeerConnection = field(default_factory=peer)
    client: RTCPeerConnection = field(default_factory=peer)
    packets: list[av.Packet] = field(default_factory=list)
    lumas: list[int] = field(default_factory=list)
    undecodable: int = 0
    task: asyncio.Task[None] | None = None

    async def _read(self, track: MediaStreamTrack) -> None:
        decoder = av.CodecContext.create(self.codec_name, "r")
        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            self.packets.append(packet)
            try:
                frames = decoder.decode(packet)
            except av.FFmpegError:
                self.undecodable += 1
                continue
            for frame in frames:
                plane = frame.planes[0]
                middle = (HEIGHT // 2) * plane.line_size + WIDTH // 2
                self.lumas.append(bytes(plane)[middle])


async def watch(feed: Feed, mime_type: str, codec_name: str) -> Viewer:
    """A viewer whose outlet is fed by ``feed``; the server offers, the viewer answers."""
    assert passthrough.installed()
    viewer = Viewer(codec_name, Outlet("video"))
    transceiver = viewer.server.addTransceiver(viewer.outlet, direction="sendonly")
    prefer(transceiver, mime_type)
    connect(transceiver.sender, viewer.outlet)
    arrived: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
    viewer.client.on("track", arrived.set_result)
    await negotiate(viewer.server, viewer.client)
    track = await asyncio.wait_for(arrived, 10)
    viewer.task = asyncio.ensure_future(viewer._read(track))
    viewer.outlet.attach(feed)
    return viewer


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def close_all(*peers: RTCPeerConnection) -> None:
    await asyncio.gather(*(p.close() for p in peers))


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    passthrough.install()
    asyncio.run(scenario())


@dataclass
class Member:
    """A participant with a camera and microphone in a room, seeing and hearing what the room
    forwards: per video slot the (brightness, tint) of each decoded frame, per audio lane the
    peak amplitude of each decoded frame. Only a member who ``decode``s keeps them: decoding
    everything for everyone would starve the test's one event loop."""

    name: str
    camera: NumberedCamera
    subscription: Subscription
    peers: list[RTCPeerConnection]
    decode: bool
    video: list[list[tuple[int, int]]] = field(default_factory=list)
    audio: list[list[int]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def tints(self, slot: int, last: int = 10) -> set[int]:
        return {round(tint / 10) * 10 for _, tint in self.video[slot][-last:]}

    async def _watch(self, slot: int, track: MediaStreamTrack) -> None:
        decoder = av.CodecContext.create("vp8", "r")
        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            if not self.decode:
                continue
            for frame in decoder.decode(packet):
                luma, chroma = frame.planes[0], frame.planes[1]
                self.video[slot].append(
                    (
                        bytes(luma)[(HEIGHT // 2) * luma.line_size + WIDTH // 2],
                        bytes(chroma)[(HEIGHT // 4) * chroma.line_size + WIDTH // 4],
                    )
                )

    def loud(self, lane: int, last: int = 25) -> bool:
        """Whether the lane carried a voice (not near-silence) over its last half second."""
        return max(self.audio[lane][-last:], default=0) > 1000

    async def _listen(self, lane: int, track: MediaStreamTrack) -> None:
        decoder = av.CodecContext.create("opus", "r")
        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            if not self.decode:
                continue
            for frame in decoder.decode(packet):
                assert frame.format.name == "fltp"  # FFmpeg's Opus decoder: float samples
                samples = array("f", bytes(frame.planes[0])[: 4 * frame.samples])
                self.audio[lane].append(int(32768 * max(map(abs, samples), default=0)))


async def join(room: MediaRoom, name: str, tint: int, loud: bool, decode: bool) -> Member:
    """Publish a camera and microphone into ``room`` and receive the room's slots and lanes."""
    camera = NumberedCamera(tint)
    client, server = peer(), peer()
    prefer(client.addTransceiver(camera, direction="sendonly"), "video/VP8")
    client.addTransceiver(Microphone(loud), direction="sendonly")
    arrived: list[MediaStreamTrack] = []
    server.on("track", arrived.append)
    await negotiate(client, server)
    await until(lambda: len(arrived) == 2, 10, "both tracks")
    for transceiver in server.getTransceivers():
        room.publish(name, transceiver.receiver.track, transceiver.receiver)

    subscription = room.subscribe(name)
    sending, receiving = peer(), peer()
    for outlet in subscription.video + subscription.audio:
        transceiver = sending.addTransceiver(outlet, direction="sendonly")
        if outlet.kind == "video":
            prefer(transceiver, "video/VP8")
        connect(transceiver.sender, outlet)
    await negotiate(sending, receiving)
    member = Member(name, camera, subscription, [client, server, sending, receiving], decode)
    member.video = [[] for _ in subscription.video]
    member.audio = [[] for _ in subscription.audio]
    for index, transceiver in enumerate(receiving.getTransceivers()):
        track = transceiver.receiver.track
        if index < len(subscription.video):
            member.tasks.append(asyncio.ensure_future(member._watch(index, track)))
        else:
            lane = index - len(subscription.video)
            member.tasks.append(asyncio.ensure_future(member._listen(lane, track)))
    return member
