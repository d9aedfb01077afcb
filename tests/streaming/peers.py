"""Real aiortc peers on loopback for the forwarder's tests: a camera that numbers its frames, a
server side that forwards with streaming.media, and viewers that decode what reaches them."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError

from streaming.media import passthrough
from streaming.media.forwarder import Feed, Outlet, connect

WIDTH, HEIGHT = 320, 240


class NumberedCamera(VideoStreamTrack):
    """A camera whose picture brightness steps with every frame, so a viewer can tell frames
    apart after lossy coding (the luma value is 16 + 8 × (frame number mod 25))."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        luma = 16 + 8 * (self.count % 25)
        for plane, fill in zip(frame.planes, (luma, 128, 128), strict=True):
            plane.update(bytes([fill]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        self.count += 1
        return frame


def peer() -> RTCPeerConnection:
    """A peer with no STUN server: loopback needs none, and this machine reaches no internet."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


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
