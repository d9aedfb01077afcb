"""Decide what to make of a source: the ladder of renditions, their sizes, bitrates and CODECS.

Pure functions of a MediaInfo; where they run (worker, CLI) is the runner's business.

Sizes. A rung is named after its SHORT side, so a portrait phone video (1080x1920 as displayed)
gets rungs 1080x1920, 720x1280, 480x854 ... named 1080p, 720p, 480p (PeerTube does the same: it
scales `w=res` for portrait). Every rung in `heights` at or below the source's short side is made;
a source smaller than every rung gets one rung at its own size, rounded down to even numbers
(4:2:0 chroma needs even sizes). The long side keeps the display aspect, never above the source.

Bitrates. Capped VBR from bits per pixel per frame, PeerTube's table (server/core/helpers/ffmpeg,
after bitmovin's HLS/DASH study), chosen by the rung's short side:

    short side  >=2160 >=1440 >=1080 >=720 >=480 >=360 >=240  below
    average      0.08   0.09   0.10  0.11  0.12  0.15  0.17   0.19   -> -b:v
    peak         0.14   0.16   0.17  0.19  0.22  0.26  0.29   0.32   -> -maxrate

bitrate = width x height x fps x bits-per-pixel, so 720p30 averages 3.0 Mb/s and peaks at 5.3 Mb/s.
As in PeerTube, the average never exceeds the source's own bitrate plus 30% (re-encoding cannot add
detail; a slide-show lecture must not be inflated), and never drops below 0.02 bits per pixel.
The peak keeps the table's peak/average ratio; -bufsize is twice the peak (PeerTube's choice).
Audio is AAC-LC stereo at 128 kb/s, 96 kb/s on rungs below 480p.

CODECS names exactly what the command asks x264 for: High profile at the smallest H.264 level
(3.0 at least) whose frame size, macroblock rate and bitrate limits the rung fits.
"""

from dataclasses import dataclass
from fractions import Fraction

from courseware.transcode.probe import MediaInfo

DEFAULT_HEIGHTS: tuple[int, ...] = (1080, 720, 480, 360)
AUDIO_CODECS = "mp4a.40.2"
AUDIO_ONLY_BITRATE = 128_000

# (smallest short side, average bits per pixel, peak bits per pixel); first match wins.
_BITS_PER_PIXEL: tuple[tuple[int, float, float], ...] = (
    (2160, 0.08, 0.14),
    (1440, 0.09, 0.16),
    (1080, 0.10, 0.17),
    (720, 0.11, 0.19),
    (480, 0.12, 0.22),
    (360, 0.15, 0.26),
    (240, 0.17, 0.29),
    (0, 0.19, 0.32),
)
_MIN_BITS_PER_PIXEL = 0.02
_SOURCE_MARGIN = 1.3

# H.264 High profile (profile_idc 100) as x264 writes it: no constraint flags.
_PROFILE_IDC = 0x64
_CONSTRAINT_FLAGS = 0x00
# (level_idc, MaxMBPS, MaxFS, MaxBR kb/s, MaxCPB kb) from H.264 Table A-1; High allows 1.25x BR/CPB.
_LEVELS: tuple[tuple[int, int, int, int, int], ...] = (
    (30, 40_500, 1_620, 10_000, 10_000),
    (31, 108_000, 3_600, 14_000, 14_000),
    (32, 216_000, 5_120, 20_000, 20_000),
    (40, 245_760, 8_192, 20_000, 25_000),
    (41, 245_760, 8_192, 50_000, 62_500),
    (42, 522_240, 8_704, 50_000, 62_500),
    (50, 589_824, 22_080, 135_000, 135_000),
    (51, 983_040, 36_864, 240_000, 240_000),
    (52, 2_073_600, 36_864, 240_000, 240_000),
    (60, 4_177_920, 139_264, 240_000, 240_000),
    (61, 8_355_840, 139_264, 480_000, 480_000),
    (62, 16_711_680, 139_264, 800_000, 800_000),
)
_HIGH_FACTOR = 1.25

# Output frame rates a source snaps to when within 5%; anything else is rounded to a whole number.
_STANDARD_RATES: tuple[Fraction, ...] = tuple(
    Fraction(r)
    for r in ("24000/1001", "24", "25", "30000/1001", "30", "48", "50", "60000/1001", "60")
)
_MAX_RATE = 60
_UNKNOWN_RATE = Fraction(25)


@dataclass(frozen=True)
class Rung:
    """One rendition: picture size, frame rate, rate control, and what the master playlist says.

    An audio-only rendition (name "audio") has width = height = 0, frame_rate 0, no video
    bitrates and level 0. `bandwidth` is the planned peak (video -maxrate + audio), in bits/s; the
    master playlist states the peak measured on the finished segments (RFC 8216 4.3.4.2).
    """

    name: str
    width: int
    height: int
    frame_rate: Fraction
    video_bitrate: int
    maxrate: int
    bufsize: int
    audio_bitrate: int
    level: int
    bandwidth: int
    codecs: str

    def __post_init__(self) -> None:
        if self.has_video:
            if self.width % 2 or self.height % 2 or self.width <= 0 or self.height <= 0:
                raise ValueError(
                    f"rung size must be positive and even, got {self.width}x{self.height}"
                )
            if not 0 < self.video_bitrate <= self.maxrate <= self.bufsize:
                raise ValueError("need 0 < video_bitrate <= maxrate <= bufsize")
            if self.frame_rate <= 0:
                raise ValueError("a video rung needs a frame rate")
        elif self.audio_bitrate <= 0:
            raise ValueError("an audio-only rung needs an audio bitrate")
        if self.bandwidth != self.maxrate + self.audio_bitrate:
            raise ValueError("bandwidth must be maxrate + audio_bitrate")

    @property
    def has_video(self) -> bool:
        """True unless this is the audio-only rendition."""
        return self.height > 0

    @property
    def short_side(self) -> int:
        """The size the rung is named after: height for landscape, width for portrait."""
        return min(self.width, self.height)


def plan_ladder(info: MediaInfo, heights: tuple[int, ...] = DEFAULT_HEIGHTS) -> list[Rung]:
    """Return the renditions to encode for `info`, largest first (see the module docstring)."""
    if any(h <= 0 for h in heights):
        raise ValueError(f"ladder heights must be positive, got {heights}")
    if not info.has_video:
        return [
            Rung(
                name="audio",
                width=0,
                height=0,
                frame_rate=Fraction(0),
                video_bitrate=0,
                maxrate=0,
                bufsize=0,
                audio_bitrate=AUDIO_ONLY_BITRATE,
                level=0,
                bandwidth=AUDIO_ONLY_BITRATE,
                codecs=AUDIO_CODECS,
            )
        ]
    short, long = sorted((info.width, info.height))
    targets = sorted({_even_floor(h) for h in heights if h <= short}, reverse=True)
    if not targets:
        targets = [_even_floor(short)]
    rate = output_frame_rate(info.fps)
    return [_video_rung(info, short_side, short, long, rate) for short_side in targets]


def output_frame_rate(fps: float) -> Fraction:
    """The constant frame rate every rung is encoded at: a standard rate within 5% of the
    source's average rate, else the rate rounded to whole frames; rates above 60 are halved."""
    if fps <= 0:
        return _UNKNOWN_RATE
    while True:
        nearest = min(_STANDARD_RATES, key=lambda r: abs(float(r) - fps))
        if abs(float(nearest) - fps) <= 0.05 * fps:
            return nearest
        if fps <= _MAX_RATE:
            return Fraction(max(1, round(fps)))
        fps /= 2


def h264_level(*, width: int, height: int, fps: float, maxrate: int, bufsize: int) -> int:
    """The smallest H.264 level_idc (30 or above) whose limits a High-profile stream fits."""
    frame_mbs = -(-width // 16) * -(-height // 16)
    for level, max_mbps, max_fs, max_br, max_cpb in _LEVELS:
        if (
            frame_mbs <= max_fs
            and frame_mbs * fps <= max_mbps
            and maxrate <= max_br * 1000 * _HIGH_FACTOR
            and bufsize <= max_cpb * 1000 * _HIGH_FACTOR
        ):
            return level
    raise ValueError(f"{width}x{height}@{fps} at {maxrate} b/s exceeds H.264 level 6.2")


def _video_rung(info: MediaInfo, short_side: int, short: int, long: int, rate: Fraction) -> Rung:
    """Size, rate control, level and CODECS for the rung whose short side is `short_side`."""
    long_side = min(_even_round(short_side * long / short), _even_floor(long))
    width, height = (short_side, long_side) if info.portrait else (long_side, short_side)
    pixel_rate = width * height * float(rate)
    average_bpp, peak_bpp = next((a, p) for s, a, p in _BITS_PER_PIXEL if short_side >= s)
    average = pixel_rate * average_bpp
    if info.bit_rate:
        average = min(average, info.bit_rate * _SOURCE_MARGIN)
    average = max(average, pixel_rate * _MIN_BITS_PER_PIXEL)
    video_bitrate = _kbps(average)
    maxrate = _kbps(average * peak_bpp / average_bpp)
    bufsize = 2 * maxrate
    audio_bitrate = (128_000 if short_side >= 480 else 96_000) if info.has_audio else 0
    level = h264_level(
        width=width, height=height, fps=float(rate), maxrate=maxrate, bufsize=bufsize
    )
    video_codecs = f"avc1.{_PROFILE_IDC:02x}{_CONSTRAINT_FLAGS:02x}{level:02x}"
    return Rung(
        name=f"{short_side}p",
        width=width,
        height=height,
        frame_rate=rate,
        video_bitrate=video_bitrate,
        maxrate=maxrate,
        bufsize=bufsize,
        audio_bitrate=audio_bitrate,
        level=level,
        bandwidth=maxrate + audio_bitrate,
        codecs=f"{video_codecs},{AUDIO_CODECS}" if info.has_audio else video_codecs,
    )


def _even_floor(value: int) -> int:
    """Round down to an even size, at least 2."""
    return max(2, value - value % 2)


def _even_round(value: float) -> int:
    """Round to the nearest even size, at least 2."""
    return max(2, 2 * round(value / 2))


def _kbps(bits_per_second: float) -> int:
    """Round a bitrate to whole kilobits per second, at least 1 kb/s."""
    return max(1000, round(bits_per_second / 1000) * 1000)
