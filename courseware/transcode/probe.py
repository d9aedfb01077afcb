"""Probe a source with PyAV: which streams it has, how it is displayed, and whether it decodes.

Probing opens the file, picks one video stream (cover art is not video) and one audio stream,
decodes the first frames (a damaged codec setup fails here, not ten minutes into a transcode) and
reads the tail (an upload cut short fails here too). Everything the ladder and the command need is
returned as one MediaInfo.
"""

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.stream

from courseware.transcode.errors import MediaError

# Demuxers that read still pictures (besides the `*_pipe` ones): a photo is not a lesson.
_IMAGE_FORMATS = frozenset({"image2", "image2pipe"})
# Streams without an index, whose header duration libavformat guesses from the first bitrate (a
# VBR MP3 without a Xing header is easily 30% off): their duration is measured from the packets.
_GUESSED_DURATION_FORMATS = frozenset({"mp3", "aac", "ac3", "eac3", "h264", "hevc", "mpegvideo"})
# How far before the end the tail check starts reading, and how much shortfall it tolerates.
_TAIL_SECONDS = 2.0
_TAIL_TOLERANCE = 1.0
# Packets read at the start while waiting for the first decoded frame of each stream.
_HEAD_PACKETS = 500


@dataclass(frozen=True)
class MediaInfo:
    """What a source is: duration, display geometry, frame rate and audio format.

    `width`/`height` are the DISPLAY size: the sample aspect ratio applied and, for a rotated
    phone video, swapped. `rotation` is the clockwise turn (0/90/180/270) the player applies to the
    stored picture, as in the legacy `rotate` tag; ffmpeg applies it while decoding. An audio-only
    source has width = height = 0 and fps = 0. `bit_rate` (bits/s, the video stream's, else the
    whole file's) caps the ladder's bitrates so a thin source is not inflated.
    """

    duration: float
    width: int
    height: int
    rotation: int
    has_video: bool
    has_audio: bool
    fps: float
    video_codec: str | None
    pix_fmt: str | None
    bit_depth: int | None
    audio_codec: str | None
    audio_rate: int | None
    audio_channels: int | None
    bit_rate: int | None
    video_stream: int | None
    audio_stream: int | None

    def __post_init__(self) -> None:
        if self.duration <= 0:
            raise ValueError(f"duration must be positive, got {self.duration}")
        if not (self.has_video or self.has_audio):
            raise ValueError("media needs a video or an audio stream")
        if self.has_video != (self.video_stream is not None):
            raise ValueError("has_video and video_stream disagree")
        if self.has_audio != (self.audio_stream is not None):
            raise ValueError("has_audio and audio_stream disagree")
        if self.has_video and (self.width <= 0 or self.height <= 0):
            raise ValueError(f"video needs a positive size, got {self.width}x{self.height}")
        if self.rotation not in (0, 90, 180, 270):
            raise ValueError(f"rotation must be a quarter turn, got {self.rotation}")

    @property
    def portrait(self) -> bool:
        """True when the picture is displayed taller than wide."""
        return self.height > self.width


def probe_media(path: Path) -> MediaInfo:
    """Describe the media file at `path`, or raise MediaError saying why it cannot be used."""
    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise MediaError("truncated" if _is_mp4(path) else "not_media", str(exc)) from exc
    with container:
        return _inspect(container, path)


def _is_mp4(path: Path) -> bool:
    """True for an ISO-BMFF file (MP4/MOV/M4A): one that starts right but will not open was cut
    short, since its index (`moov`) is usually written last."""
    with path.open("rb") as head:
        return head.read(12)[4:8] == b"ftyp"


def _inspect(container: av.container.InputContainer, path: Path) -> MediaInfo:
    """Pick the streams, check that they decode from head to tail, and describe them."""
    if container.format.name in _IMAGE_FORMATS or container.format.name.endswith("_pipe"):
        raise MediaError("image", f"demuxer {container.format.name}")
    video = next(
        (
            s
            for s in container.streams.video
            if not s.disposition & av.stream.Disposition.attached_pic and s.codec_context.width
        ),
        None,
    )
    audio = next(
        (s for s in container.streams.audio if s.codec_context.sample_rate),
        None,
    )
    streams: list[av.stream.Stream] = [s for s in (video, audio) if s is not None]
    if not streams:
        raise MediaError("no_streams", f"streams: {[s.type for s in container.streams]}")
    guessed = container.format.name in _GUESSED_DURATION_FORMATS
    announced = container.duration is not None and container.duration > 0 and not guessed
    if announced:
        duration = (container.duration or 0) / av.time_base
    else:
        duration = _measure_duration(path, [s.index for s in streams])
    first = _decode_head(container, streams)
    if announced:
        _check_tail(container, streams, duration)

    width = height = rotation = 0
    fps = 0.0
    pix_fmt = None
    bit_depth = None
    bit_rate = container.bit_rate or None
    if video is not None:
        frame = first[video.index]
        assert isinstance(frame, av.VideoFrame)
        rotation = _rotation(frame, video)
        sar = video.sample_aspect_ratio or Fraction(1)
        width = max(1, round(frame.width * sar)) if sar > 0 else frame.width
        height = frame.height
        if rotation in (90, 270):
            width, height = height, width
        rate = video.average_rate or video.guessed_rate
        fps = float(rate) if rate else 0.0
        pix_fmt = frame.format.name
        bit_depth = frame.format.components[0].bits
        bit_rate = video.codec_context.bit_rate or bit_rate
    audio_ctx = audio.codec_context if audio is not None else None
    return MediaInfo(
        duration=duration,
        width=width,
        height=height,
        rotation=rotation,
        has_video=video is not None,
        has_audio=audio is not None,
        fps=fps,
        video_codec=video.codec_context.name if video is not None else None,
        pix_fmt=pix_fmt,
        bit_depth=bit_depth,
        audio_codec=audio_ctx.name if audio_ctx is not None else None,
        audio_rate=audio_ctx.sample_rate if audio_ctx is not None else None,
        audio_channels=audio_ctx.layout.nb_channels if audio_ctx is not None else None,
        bit_rate=bit_rate,
        video_stream=video.index if video is not None else None,
        audio_stream=audio.index if audio is not None else None,
    )


def _measure_duration(path: Path, indices: list[int]) -> float:
    """Seconds of media read from every packet, for files whose header has no duration (browser
    recordings) or only a guess (raw streams). Untimed packets (raw H.264) count by duration.

    A fresh demuxer reads the file, as raw streams cannot seek back.
    """
    end = 0.0
    untimed: dict[int, float] = {}
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            start = (container.start_time or 0) / av.time_base
            for packet in container.demux(*(container.streams[i] for i in indices)):
                stamped = _packet_end(packet)
                if stamped is not None:
                    end = max(end, stamped - start)
                elif packet.duration and packet.time_base is not None:
                    index = packet.stream.index
                    untimed[index] = untimed.get(index, 0.0) + float(
                        packet.duration * packet.time_base
                    )
    except av.FFmpegError as exc:
        raise MediaError("undecodable", str(exc)) from exc
    seconds = max(end, *untimed.values(), 0.0)
    if seconds <= 0:
        raise MediaError("zero_duration", "no timed packets")
    return seconds


def _decode_head(
    container: av.container.InputContainer, streams: list[av.stream.Stream]
) -> dict[int, av.VideoFrame | av.AudioFrame]:
    """Decode the first frame of every chosen stream; fail if the codec data is unusable."""
    first: dict[int, av.VideoFrame | av.AudioFrame] = {}
    try:
        for count, packet in enumerate(container.demux(*streams)):
            if packet.stream.index not in first:
                for frame in packet.decode():
                    assert isinstance(frame, av.VideoFrame | av.AudioFrame)
                    first.setdefault(packet.stream.index, frame)
            if len(first) == len(streams) or count >= _HEAD_PACKETS:
                break
    except av.FFmpegError as exc:
        raise MediaError("undecodable", str(exc)) from exc
    missing = [s.type for s in streams if s.index not in first]
    if missing:
        raise MediaError("undecodable", f"no frame decoded from the {', '.join(missing)} stream")
    return first


def _check_tail(
    container: av.container.InputContainer, streams: list[av.stream.Stream], duration: float
) -> None:
    """Read the last seconds: the packets must reach the announced end and still decode.

    A container that cannot seek is left to the transcode, whose output length the runner checks.
    """
    start = (container.start_time or 0) / av.time_base
    expected_end = start + duration
    try:
        container.seek(int(max(start, expected_end - _TAIL_SECONDS) * av.time_base))
    except av.FFmpegError:
        return
    end = start
    decoded = False
    try:
        for packet in container.demux(*streams):
            end = max(end, _packet_end(packet) or start)
            if not decoded and packet.stream.index == streams[0].index:
                decoded = bool(packet.decode())
    except av.FFmpegError as exc:
        raise MediaError("truncated", f"reading the last seconds: {exc}") from exc
    shortfall = expected_end - end
    if shortfall > _TAIL_TOLERANCE + 0.02 * duration:
        raise MediaError("truncated", f"data ends at {end:.2f}s of {expected_end:.2f}s")


def _packet_end(packet: av.Packet) -> float | None:
    """Seconds at which a packet's media ends; None without a timestamp (flush packets, raw)."""
    stamp = packet.pts if packet.pts is not None else packet.dts
    if stamp is None or packet.time_base is None:
        return None
    return float((stamp + (packet.duration or 0)) * packet.time_base)


def _rotation(frame: av.VideoFrame, stream: av.stream.Stream) -> int:
    """Clockwise quarter turns from the display matrix, else from the legacy `rotate` tag."""
    counter_clockwise = frame.rotation
    if counter_clockwise:
        degrees = -counter_clockwise
    else:
        try:
            degrees = int(float(stream.metadata.get("rotate", "0")))
        except ValueError:
            degrees = 0
    return (round(degrees / 90) * 90) % 360
