"""The forwarder: each publisher's encoded frames, fanned out to bounded per-subscriber outlets.

A ``Feed`` drains one publisher's remote track from the moment it arrives (aiortc's own track
queue is unbounded, and a late reader would replay seconds of stale frames) and offers every
frame to the outlets attached to it. An ``Outlet`` is the track one subscriber's sender reads:
a short queue that, when its subscriber falls behind, drops what it holds and waits for the
next keyframe rather than grow or hand the decoder a broken picture. An outlet is a slot whose
source can change (the spotlight, the active speaker); video switches on the new source's
keyframe and timestamps stay continuous across the switch, so the viewer's decoder never
sees a gap.

Keyframes are asked of the publisher when a subscriber joins, when an outlet drops, when a
slot switches and when a subscriber's browser sends PLI/FIR — coalesced to at most one request
per ``KEYFRAME_INTERVAL`` per feed, as a publisher's encoder is the room's most shared resource.

Bandwidth follows the weakest path: each subscriber's REMB estimate is noted on its outlet,
and the REMB a publisher receives is capped at the lowest estimate among the outlets it feeds, so
its encoder slows for the poorest link it serves (aiortc has no simulcast to serve each its own).

Frames are ``av.Packet`` objects from :mod:`streaming.media.passthrough`. The hooks into aiortc
(a sender's ``_send_keyframe`` and ``_handle_rtcp_packet``, a receiver's ``_send_rtcp``,
``_send_rtcp_pli`` and ``_handle_rtp_packet``) are per instance; ``tests/streaming`` pins them.
"""

import asyncio
from collections.abc import Callable
from typing import NamedTuple

import av
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import (
    RTCP_PSFB_APP,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

KEYFRAME_INTERVAL = 0.5
"""Seconds between keyframe requests to one publisher (other SFUs allow 1–2 per second)."""

QUEUE_SECONDS = 1.0
"""How much media an outlet holds before its subscriber counts as lagging."""

BITRATE_FLOOR = 150_000
"""Bits per second below which a publisher is never pushed for one viewer's sake: a link that
poor is better served by its own dropped frames than everyone by a smeared picture."""

FRAME_RATE = {"video": 30, "audio": 50}
"""Frames per second assumed for queue sizes and for the gap left at a source switch."""


def remb_bitrate(packet: AnyRtcpPacket) -> tuple[int, list[int]] | None:
    """The bitrate and media SSRCs of a REMB message, or None for any other RTCP packet."""
    if not isinstance(packet, RtcpPsfbPacket) or packet.fmt != RTCP_PSFB_APP:
        return None
    try:
        return unpack_remb_fci(packet.fci)
    except ValueError:
        return None


class Feed:
    """One publisher's track, read continuously and offered to the outlets attached to it.

    ``on_level`` hears the RFC 6464 audio level of every packet of an audio feed, for the active
    speaker; the level travels in a header extension that aiortc parses but does not pass on.
    An audio feed made on the server (the broadcast's mix) has no receiver.
    """

    def __init__(
        self,
        track: MediaStreamTrack,
        receiver: RTCRtpReceiver | None,
        on_level: Callable[[int], None] | None = None,
    ) -> None:
        self.kind = track.kind
        self.track = track
        self.receiver = receiver
        self.outlets: set[Outlet] = set()
        self.frames = 0
        self.keyframe_requests = 0
        self._last_request = -KEYFRAME_INTERVAL
        self._pending_request: asyncio.TimerHandle | None = None
        if self.kind == "video":
            self._cap_bandwidth_estimates()
        if on_level is not None:
            self._hear_levels(on_level)
        self._task = asyncio.ensure_future(self._drain())

    def weakest_estimate(self) -> int | None:
        """The lowest bitrate any subscriber fed from here can take, once they have said."""
        estimates = [o.estimate for o in self.outlets if o.source is self and o.estimate]
        return min(estimates, default=None)

    def _cap_bandwidth_estimates(self) -> None:
        assert self.receiver is not None
        send_rtcp = self.receiver._send_rtcp

        async def capped(packet: AnyRtcpPacket) -> None:
            remb = remb_bitrate(packet)
            weakest = self.weakest_estimate()
            if remb is not None and weakest is not None and weakest < remb[0]:
                assert isinstance(packet, RtcpPsfbPacket)
                packet.fci = pack_remb_fci(max(weakest, BITRATE_FLOOR), remb[1])
            await send_rtcp(packet)

        self.receiver._send_rtcp = capped  # type: ignore[method-assign]

    def _hear_levels(self, on_level: Callable[[int], None]) -> None:
        assert self.receiver is not None
        handle_rtp = self.receiver._handle_rtp_packet

        async def hearing(packet: RtpPacket, arrival_time_ms: int) -> None:
            if packet.extensions.audio_level is not None:
                on_level(packet.extensions.audio_level[1])
            await handle_rtp(packet, arrival_time_ms)

        self.receiver._handle_rtp_packet = hearing  # type: ignore[method-assign]

    async def _drain(self) -> None:
        while True:
            try:
                packet = await self.track.recv()
            except MediaStreamError:
                break
            if not isinstance(packet, av.Packet):
                raise TypeError("a decoded frame reached the forwarder: passthrough.install()")
            self.frames += 1
            if packet.is_keyframe and self._pending_request is not None:
                self._pending_request.cancel()
                self._pending_request = None
            for outlet in tuple(self.outlets):
                outlet.offer(self, packet)
        for outlet in tuple(self.outlets):
            outlet.source_ended(self)

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe now, or once the throttle allows."""
        if self.kind != "video" or self._pending_request is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_request + KEYFRAME_INTERVAL - loop.time()
        if wait <= 0:
            self._send_pli()
        else:
            self._pending_request = loop.call_later(wait, self._send_pli)

    def _send_pli(self) -> None:
        """PLI to each SSRC the publisher sends on: one is the picture, and a browser also
        sends retransmissions and bandwidth probes on another, which aiortc lists alike (a
        PLI naming that one is ignored, so naming only the first heard could name the wrong)."""
        self._pending_request = None
        self._last_request = asyncio.get_running_loop().time()
        assert self.receiver is not None  # video comes from a publisher
        sources = self.receiver.getSynchronizationSources()
        if sources:
            self.keyframe_requests += 1
        for source in sources:
            asyncio.ensure_future(self.receiver._send_rtcp_pli(source.source))

    async def close(self) -> None:
        """Stop reading (the publisher left); the outlets fed by it fall silent."""
        if self._pending_request is not None:
            self._pending_request.cancel()
        self.track.stop()
        self._task.cancel()
        for outlet in tuple(self.outlets):
            outlet.source_ended(self)


class Queued(NamedTuple):
    packet: av.Packet
    pts: int
    """On this outlet's own timeline."""


class Outlet(MediaStreamTrack):
    """The track one subscriber's sender reads: a bounded queue fed by one feed at a time."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        rate = FRAME_RATE[kind]
        self.capacity = max(2, int(QUEUE_SECONDS * rate))
        self.frame_rate = rate
        self.source: Feed | None = None
        self.pending: Feed | None = None
        self.dropped = 0
        self.sent = 0
        self.estimate: int | None = None
        """The subscriber's last REMB, in bits per second."""
        self._queue: asyncio.Queue[Queued] = asyncio.Queue(self.capacity)
        self._offset = 0
        self._last_pts: int | None = None
        """The newest timestamp queued: a new source continues after it, not after the last
        frame sent, as frames of the old source may still be waiting in the queue."""
        self._awaiting_keyframe = kind == "video"

    def attach(self, feed: Feed) -> None:
        """Take media from ``feed`` from its next keyframe on (or at once, for audio)."""
        if self.pending is not None and self.pending is not feed:
            self.pending.outlets.discard(self)
            self.pending = None
        if feed is self.source:
            return
        self.pending = feed
        feed.outlets.add(self)
        feed.request_keyframe()

    def detach(self) -> None:
        """No source: the subscriber keeps its track and simply receives nothing."""
        for feed in (self.source, self.pending):
            if feed is not None:
                feed.outlets.discard(self)
        self.source = self.pending = None
        self._awaiting_keyframe = self.kind == "video"

    def source_ended(self, feed: Feed) -> None:
        if feed is self.pending:
            self.pending = None
        if feed is self.source:
            self.source = None
            self._awaiting_keyframe = self.kind == "video"
        feed.outlets.discard(self)

    def request_keyframe(self) -> None:
        """The subscriber lost a picture (PLI/FIR): relay it to whoever feeds this outlet."""
        for feed in (self.pending, self.source):
            if feed is not None:
                feed.request_keyframe()
                return

    def offer(self, feed: Feed, packet: av.Packet) -> None:
        if feed is self.pending and (packet.is_keyframe or self.kind != "video"):
            self._switch_to(feed, packet)
        if feed is not self.source:
            return
        if self._awaiting_keyframe:
            if not packet.is_keyframe:
                self.dropped += 1
                return
            self._awaiting_keyframe = False
        if self._queue.full():
            self._fall_behind(feed)
            if self.kind == "video" and not packet.is_keyframe:
                self.dropped += 1
                return
            self._awaiting_keyframe = False
        pts = (packet.pts or 0) + self._offset
        self._queue.put_nowait(Queued(packet, pts))
        self._last_pts = pts

    def _switch_to(self, feed: Feed, packet: av.Packet) -> None:
        """Continue the outgoing timeline one frame after the last one sent."""
        if self.source is not None:
            self.source.outlets.discard(self)
        self.source, self.pending = feed, None
        self._awaiting_keyframe = False
        if self._last_pts is not None and packet.time_base is not None:
            step = int(1 / (packet.time_base * self.frame_rate))
            self._offset = self._last_pts + step - (packet.pts or 0)

    def _fall_behind(self, feed: Feed) -> None:
        """Drop what is queued: video resumes at the next keyframe, audio at once."""
        while not self._queue.empty():
            self._queue.get_nowait()
            self.dropped += 1
        if self.kind == "video":
            self._awaiting_keyframe = True
            feed.request_keyframe()

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet, pts = await self._queue.get()
        self.sent += 1
        if pts == packet.pts:
            return packet
        # The frame is shared by every outlet of its feed: a shifted copy keeps theirs intact.
        shifted = av.Packet(bytes(packet))
        shifted.pts = pts
        shifted.time_base = packet.time_base
        shifted.is_keyframe = packet.is_keyframe
        return shifted

    def stop(self) -> None:
        self.detach()
        super().stop()


def connect(sender: RTCRtpSender, outlet: Outlet) -> None:
    """Relay the subscriber's keyframe requests (PLI, FIR) to the outlet's publisher, and note
    its bandwidth estimates.

    aiortc's sender only honours keyframe requests when it encodes; for forwarded frames it
    would drop them, leaving the subscriber with a frozen picture until the next keyframe.
    """
    sender._send_keyframe = outlet.request_keyframe  # type: ignore[method-assign]
    handle_rtcp = sender._handle_rtcp_packet

    async def noting(packet: AnyRtcpPacket) -> None:
        remb = remb_bitrate(packet)
        if remb is not None and sender._ssrc in remb[1]:
            outlet.estimate = remb[0]
        await handle_rtcp(packet)

    sender._handle_rtcp_packet = noting  # type: ignore[method-assign]
