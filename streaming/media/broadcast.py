"""The program feed (节目): a room's broadcast, produced once for every viewer.

Its picture follows one participant: the spotlight, else the active speaker, else whoever
published a camera first; while an encoder at the main venue sends the program feed over WHIP
(``feed``, streaming.media.whip), it shows that instead, and falls back to the room when the
feed stops. That participant's H.264 frames are remuxed into MPEG-TS as they
arrive (never decoded or encoded again: a program costs one remux, whatever the audience); in a
VP8 room they are decoded and encoded to H.264 once for the event (``PICTURE``, on a thread),
never per viewer. They come through a forwarder's outlet, so a change of program participant
switches on a keyframe with continuous timestamps, as a viewer's tile does.

Its sound is the room's as a participant hears it: the audio lanes of the loudest unmuted
voices (the chair and the speaker both), each decoded from Opus, mixed, and encoded once to AAC
(``Mixer``); the WHIP feed's sound is one more voice of the mix.

FFmpeg's HLS muxer cuts a segment at the first keyframe after each ``SEGMENT_SECONDS``; a
browser's encoder makes keyframes only when asked, so the program asks the participant for one
every segment. A WHEP viewer is forwarded the program participant's own frames, and the mix
encoded once more, to Opus, while any WHEP viewer listens (``MixTrack``).

Segments are put in object storage as they complete, then the playlist naming them, so a
viewer never sees a segment that is not there yet; at the end the playlist is closed
(``#EXT-X-ENDLIST``) and the same files are the recording. A program taken up on another node
after its first stopped goes on in the same playlist, after a discontinuity.

Latency: a segment is published when the next one starts (``SEGMENT_SECONDS`` after its first
frame) and hls.js starts ``LIVE_SYNC_SEGMENTS`` segments from the live edge, so a viewer is about
(1 + LIVE_SYNC_SEGMENTS) × SEGMENT_SECONDS, 6 s, behind the room. LL-HLS would publish parts of
a segment (EXT-X-PART, ~0.3 s) with blocking playlist reloads: about 2 s, at the price of a
server that holds requests open and playlists a CDN cannot cache; WHEP serves low latency here.
"""

import asyncio
import contextlib
import re
from array import array
from fractions import Fraction
from pathlib import Path

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from core.storage import ObjectNotFound, ObjectStore
from streaming.media.forwarder import Feed, Outlet
from streaming.media.room import MediaRoom, Publication

SEGMENT_SECONDS = 2
LIVE_SYNC_SEGMENTS = 2
PLAYLIST = "index.m3u8"
SEGMENT = re.compile(r"^(seg[\w-]*\.ts)$", re.MULTILINE)
"""A segment's line in the playlist (``seg00012.ts``; ``seg-1-00003.ts`` in a take-up)."""
VIDEO_CLOCK = Fraction(1, 90000)
AUDIO_RATE = 48000
MIX_SAMPLES = 960
"""A mixing tick: 20 ms of sound, as an Opus packet carries."""
MIX_HELD = 10
"""Ticks of a voice's sound held for the mix; beyond it the oldest is dropped (no drift)."""
PICTURE = (640, 480)
"""The picture of a program encoded from VP8 (what the room page asks cameras for)."""
PROGRAM = "program"
"""The program's name among the room's viewers (participants are m12, s3, u5)."""
FEED = "feed"
"""Whom the program follows while an encoder's WHIP feed is on."""
UPLOAD_EVERY = 0.5
"""Seconds between looks for completed segments to put in storage."""


class Program:
    """The program of ``room``, written as HLS under ``prefix`` in ``store`` (via ``workdir``)."""

    def __init__(self, room: MediaRoom, store: ObjectStore, prefix: str, workdir: Path) -> None:
        self.room = room
        self.store = store
        self.prefix = prefix.rstrip("/") + "/"
        self.workdir = workdir
        self.video = Outlet("video")
        self.mix = MixTrack()
        self.mix_feed: Feed | None = None
        """The mix in Opus, for WHEP viewers (made at start)."""
        self.following: str | None = None
        self.feed: Publication | None = None
        """An encoder's program feed (WHIP): shown, and heard, rather than the room's cameras
        while it has a picture."""
        self.feed_sound = Outlet("audio")
        self.viewers: list[Outlet] = []
        """Outlets of WHEP viewers: they follow the program with the HLS muxer."""
        self.uploaded: set[str] = set()
        self.earlier = ""
        """The playlist of the takes before this one (see take_up)."""
        self.take = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._container: av.container.OutputContainer | None = None
        self._video_stream: av.VideoStream | None = None
        self._audio_stream: av.AudioStream | None = None

    @property
    def playlist_key(self) -> str:
        return self.prefix + PLAYLIST

    def take_up(self) -> None:
        """Go on from the broadcast a stopped node left open: the earlier segments stay first
        in the playlist, and this take's follow them, named apart. Reads storage: call it in
        a thread, before start."""
        with contextlib.suppress(ObjectNotFound):
            earlier = self.store.get_bytes(self.playlist_key).decode()
            self.earlier = earlier.replace("#EXT-X-ENDLIST", "").rstrip() + "\n"
            self.take = earlier.count("#EXT-X-DISCONTINUITY") + 1

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        names = f"seg-{self.take}-%05d.ts" if self.take else "seg%05d.ts"
        self._container = av.open(
            str(self.workdir / PLAYLIST),
            "w",
            format="hls",
            options={
                "hls_time": str(SEGMENT_SECONDS),
                "hls_list_size": "0",
                "hls_playlist_type": "event",
                "hls_segment_filename": str(self.workdir / names),
                # Write each packet as it comes rather than wait to interleave it with the
                # other track (a participant without a microphone would hold video back 10 s).
                "max_interleave_delta": "0",
            },
        )
        self._video_stream = self._container.add_stream("h264", rate=30)
        self._video_stream.time_base = VIDEO_CLOCK
        if self.transcodes:
            encoder = self._video_stream.codec_context
            encoder.width, encoder.height = PICTURE
            encoder.pix_fmt, encoder.time_base = "yuv420p", VIDEO_CLOCK
            encoder.bit_rate, encoder.gop_size = 1_200_000, 30 * SEGMENT_SECONDS
            encoder.options = {"preset": "veryfast", "tune": "zerolatency"}
        self._audio_stream = self._container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        self.mix_feed = Feed(self.mix, receiver=None)
        self._tasks = [
            asyncio.ensure_future(self._follow()),
            asyncio.ensure_future(self._upload()),
        ]

    @property
    def transcodes(self) -> bool:
        """Whether the room's video must be encoded to H.264 for HLS (a VP8 room)."""
        return self.room.video_codec.lower() != "video/h264"

    def choose(self) -> str | None:
        """Whom the program shows: the WHIP feed, else the spotlight, the active speaker, the
        first camera."""
        if self.feed is not None and self.feed.video is not None:
            return FEED
        cameras = [p for p, pub in self.room.publications.items() if pub.video is not None]
        for candidate in (self.room.spotlight, self.room.speaker.current, *cameras):
            if candidate in cameras:
                return candidate
        return None

    async def _follow(self) -> None:
        """Keep the outlets on the chosen participant; ask them for a keyframe each segment."""
        pumps: list[asyncio.Task[None]] = []
        try:
            while True:
                chosen = self.choose()
                publication = self._publication(chosen)
                camera = publication.video if publication is not None else None
                # By feed, not by name: an encoder that reconnects is a new feed of "feed".
                if camera is not None and camera not in (self.video.source, self.video.pending):
                    self.video.attach(camera)
                    self.following = chosen
                    for viewer in self.viewers:
                        self._point(viewer)
                    if not pumps:
                        pumps = [
                            asyncio.ensure_future(self._pump_video()),
                            asyncio.ensure_future(self._mix_audio()),
                        ]
                self._hear_feed()
                if self.video.source is not None:
                    self.video.source.request_keyframe()
                await asyncio.sleep(SEGMENT_SECONDS)
        finally:
            for pump in pumps:
                pump.cancel()

    def _publication(self, name: str | None) -> Publication | None:
        return self.feed if name == FEED else self.room.publications.get(name or "")

    def _hear_feed(self) -> None:
        """The mix's lane of the WHIP feed: its sound while it is on, else nothing."""
        sound = self.feed.audio if self.feed is not None else None
        if sound is None:
            self.feed_sound.detach()
        else:
            self.feed_sound.attach(sound)

    def watch(self, outlet: Outlet) -> None:
        """A low-latency viewer's outlet (WHEP): fed what the program shows, as it changes."""
        self.viewers.append(outlet)
        self._point(outlet)

    def unwatch(self, outlet: Outlet) -> None:
        if outlet in self.viewers:
            self.viewers.remove(outlet)
        outlet.stop()

    def _point(self, outlet: Outlet) -> None:
        if outlet.kind == "audio":
            if self.mix_feed is not None and outlet.source is not self.mix_feed:
                outlet.attach(self.mix_feed)
            return
        if self.following == FEED and self.transcodes:
            return  # the encoder's H.264 cannot go to a viewer negotiated in the room's VP8
        publication = self._publication(self.following)
        feed = publication.video if publication is not None else None
        if feed is not None:
            outlet.attach(feed)

    async def _pump_video(self) -> None:
        assert self._container is not None and self._video_stream is not None
        stream = self._video_stream
        decoder = av.VideoCodecContext.create("vp8", "r") if self.transcodes else None
        first: int | None = None
        while True:
            frame = await self.video.recv()
            if first is None:
                if not frame.is_keyframe:
                    continue
                first = frame.pts or 0
            pts = (frame.pts or 0) - first
            if decoder is not None and not is_h264(frame):
                packets = await asyncio.to_thread(self._encode, decoder, frame, pts)
            else:
                packet = av.Packet(bytes(frame))
                packet.pts = packet.dts = pts
                packet.time_base = VIDEO_CLOCK
                packet.is_keyframe = frame.is_keyframe
                packets = [packet]
            for packet in packets:
                packet.stream = stream
                with contextlib.suppress(av.FFmpegError, ValueError):  # one bad frame only
                    self._container.mux(packet)

    def _encode(self, decoder: av.VideoCodecContext, frame: av.Packet, pts: int) -> list[av.Packet]:
        """A VP8 frame as H.264 packets of the program's picture (on a thread: ~5 ms)."""
        assert self._video_stream is not None
        packets: list[av.Packet] = []
        with contextlib.suppress(av.FFmpegError):  # a broken frame: the next keyframe mends it
            for picture in decoder.decode(frame):
                assert isinstance(picture, av.VideoFrame)
                width, height = PICTURE
                scaled = picture.reformat(width=width, height=height, format="yuv420p")
                scaled.pts, scaled.time_base = pts, VIDEO_CLOCK
                packets += self._video_stream.encode(scaled)
        return packets

    async def _mix_audio(self) -> None:
        """The room's voices, mixed every 20 ms and encoded to AAC (silence when none speaks)."""
        assert self._container is not None and self._audio_stream is not None
        lanes = [*self.room.subscribe(PROGRAM, video=False).audio, self.feed_sound]
        mixer = Mixer(len(lanes))
        hearing = [asyncio.ensure_future(mixer.hear(n, lane)) for n, lane in enumerate(lanes)]
        stream = self._audio_stream
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=AUDIO_RATE)
        opus = MixTrack.encoder()
        loop = asyncio.get_running_loop()
        began, ticks = loop.time(), 0
        try:
            while True:
                ticks += 1
                await asyncio.sleep(
                    max(0.0, began + ticks * MIX_SAMPLES / AUDIO_RATE - loop.time())
                )
                frame = av.AudioFrame(format="s16", layout="mono", samples=MIX_SAMPLES)
                frame.planes[0].update(mixer.take())
                frame.sample_rate = AUDIO_RATE
                frame.pts, frame.time_base = (ticks - 1) * MIX_SAMPLES, Fraction(1, AUDIO_RATE)
                if any(viewer.kind == "audio" for viewer in self.viewers):
                    for packet in opus.encode(frame):
                        self.mix.put(packet, frame.pts)
                for pcm in resampler.resample(frame):
                    for packet in stream.encode(pcm):
                        with contextlib.suppress(av.FFmpegError, ValueError):
                            self._container.mux(packet)
        finally:
            for task in hearing:
                task.cancel()

    async def _upload(self) -> None:
        while True:
            await asyncio.sleep(UPLOAD_EVERY)
            await asyncio.to_thread(self.publish_segments)

    def publish_segments(self) -> None:
        """Put the segments the local playlist names, then the playlist: never the other way."""
        path = self.workdir / PLAYLIST
        if not path.is_file():
            return
        text = path.read_text(encoding="utf-8")
        for name in SEGMENT.findall(text):
            if name not in self.uploaded:
                self.store.put_file(self.prefix + name, self.workdir / name)
                self.uploaded.add(name)
        if self.earlier:
            text = continued(self.earlier, text)
        self.store.put_bytes(self.playlist_key, text.encode(), content_type=PLAYLIST_TYPE)

    async def stop(self) -> None:
        """End the program: the last segment and the closed playlist reach storage."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for outlet in (self.video, self.feed_sound, *self.viewers):
            outlet.stop()
        if self.mix_feed is not None:
            await self.mix_feed.close()
        await self.room.leave(PROGRAM)
        if self._container is not None:
            with contextlib.suppress(av.FFmpegError, ValueError):
                self._container.close()  # flushes the encoders and writes #EXT-X-ENDLIST
            self._container = None
        await asyncio.to_thread(self.publish_segments)


class MixTrack(MediaStreamTrack):
    """The mix encoded to Opus, as a track a ``Feed`` fans out to WHEP viewers' outlets."""

    kind = "audio"
    HELD = 25
    """Packets held for a slow reader (half a second); the oldest go first."""

    def __init__(self) -> None:
        super().__init__()
        self.packets: asyncio.Queue[av.Packet] = asyncio.Queue()

    @staticmethod
    def encoder() -> av.AudioCodecContext:
        codec = av.CodecContext.create("libopus", "w")
        assert isinstance(codec, av.AudioCodecContext)
        codec.format, codec.layout, codec.sample_rate = "s16", "mono", AUDIO_RATE
        codec.bit_rate = 64000
        return codec

    def put(self, packet: av.Packet, pts: int | None) -> None:
        packet.pts, packet.time_base, packet.is_keyframe = pts, Fraction(1, AUDIO_RATE), True
        if self.packets.qsize() >= self.HELD:
            self.packets.get_nowait()
        self.packets.put_nowait(packet)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        return await self.packets.get()


class Mixer:
    """The sound of ``lanes`` audio lanes, 20 ms at a time: each lane's Opus decoded to 16-bit
    mono as it comes, held a little, and summed (clipped) when taken."""

    def __init__(self, lanes: int) -> None:
        self.held = [bytearray() for _ in range(lanes)]

    async def hear(self, lane: int, outlet: Outlet) -> None:
        """Decode what ``outlet`` carries, a new decoder for each voice seated in it."""
        resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        decoder, source = None, None
        limit = MIX_HELD * MIX_SAMPLES * 2
        while True:
            packet = await outlet.recv()
            if decoder is None or outlet.source is not source:
                decoder, source = av.CodecContext.create("opus", "r"), outlet.source
            with contextlib.suppress(av.FFmpegError):  # a lost packet: the gap stays silent
                for decoded in decoder.decode(packet):
                    for pcm in resampler.resample(decoded):
                        self.held[lane] += bytes(pcm.planes[0])[: pcm.samples * 2]
            if len(self.held[lane]) > limit:
                del self.held[lane][: len(self.held[lane]) - limit]

    def take(self) -> bytes:
        """The next 20 ms of the mix (silence where a lane has nothing)."""
        size = MIX_SAMPLES * 2
        chunks = []
        for held in self.held:
            if held:
                chunk = bytes(held[:size]).ljust(size, b"\x00")
                del held[:size]
                chunks.append(chunk)
        if not chunks:
            return bytes(size)
        if len(chunks) == 1:
            return chunks[0]
        voices = [array("h", chunk) for chunk in chunks]
        mixed = array("h", (max(-32768, min(32767, sum(s))) for s in zip(*voices, strict=True)))
        return mixed.tobytes()


def is_h264(frame: av.Packet) -> bool:
    """Whether a frame is H.264 as aiortc hands it over (Annex B: a start code first): in a VP8
    room the program's outlet carries the cameras' VP8 and the WHIP feed's H.264 in turn, and
    a VP8 frame never begins with a zero byte (its first byte holds the keyframe and shown
    bits)."""
    start = bytes(frame)[:4]
    return start == b"\x00\x00\x00\x01" or start[:3] == b"\x00\x00\x01"


def continued(earlier: str, take: str) -> str:
    """``earlier``'s playlist followed by the segments of ``take``'s after a discontinuity, with
    a target duration that holds both."""
    segments = take[take.find("#EXTINF") :] if "#EXTINF" in take else ""
    target = max(
        int(found) for found in re.findall(r"^#EXT-X-TARGETDURATION:(\d+)", earlier + take, re.M)
    )
    head = re.sub(
        r"^#EXT-X-TARGETDURATION:\d+",
        f"#EXT-X-TARGETDURATION:{target}",
        earlier,
        count=1,
        flags=re.M,
    )
    return f"{head}#EXT-X-DISCONTINUITY\n{segments}"


PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
