"""Decide what to make of a source: the ladder of renditions, their sizes, rate control and CODECS.

Pure functions of a MediaInfo; where they run (worker, CLI) is the runner's business.

Sizes. A rung is named after its SHORT side, so a portrait phone video (1080x1920 as displayed)
gets rungs 1080x1920, 720x1280, 480x854 ... named 1080p, 720p, 480p (PeerTube does the same: it
scales `w=res` for portrait). Every rung in `heights` at or below the source's short side is made,
so the 240p floor is made for every video at least 240 pixels high; a source smaller than every
rung gets one rung at its own size, rounded down to even numbers (4:2:0 chroma needs even sizes).
The long side keeps the display aspect, never above the source.

Rate control targets a quality, not a bitrate: x264 constant rate factor (`-crf`, no `-b:v`) under
a VBV cap per rung (`-maxrate`, `-bufsize`). A slide-show lecture then costs what its few changing
pixels need, and a camera shot gets bits up to the cap. The cap is PeerTube's AVERAGE
bits-per-pixel table (packages/core-utils/src/videos/bitrate.ts, after bitmovin's HLS/DASH study),
chosen by the rung's short side, times width x height x fps; like PeerTube the cap never exceeds the
source's own bitrate plus 30% (re-encoding cannot add detail) and never drops below 0.02 bits per
pixel, and -bufsize is twice the cap:

    short side  >=2160 >=1440 >=1080 >=720 >=480 >=360 >=240  below
    cap bpp      0.08   0.09   0.10  0.11  0.12  0.15  0.17   0.19   -> -maxrate

PeerTube (packages/ffmpeg/src/ffmpeg-default-transcoding-profile.ts) passes no -b:v and no -crf
(x264's default CRF 23), caps -maxrate at that same table with -bufsize twice it, and asks for
`-b_strategy 1 -bf 16`. We keep its caps and B-frames and differ where it measured better: CRF 24
with a 40-frame lookahead (x264 veryfast looks 10 ahead: a longer look plans the VBV and the
macroblock tree better, for about 8% more CPU), keyframes on a fixed 2 s grid with no scene-cut
keyframes (PeerTube lets x264 add them, so its rungs need not align), and the floor rung below,
encoded with x264's `medium` preset (a ninth of 720p's pixels, so a slower search is cheap there).

Measured by bench/quality.py (10 s 720p sources, same ffmpeg, PeerTube's recipe one process per
rung): video bytes 0.90x PeerTube's on the camera-like source and 0.96x on the lecture; on every
rung above the floor SSIM is within -0.0002 of PeerTube's or better and VMAF +0.1 to +4.1; CPU
0.74x (the decode is shared). The floor is the exception by design: on the camera source it spends
0.49x PeerTube's 240p bytes (PeerTube's cap is 521 kb/s, ours peaks under 300 kb/s) and scores
SSIM -0.011, VMAF -4.2; under the floor's own caps PeerTube's recipe scores SSIM -0.020 and VMAF
-9.9 below ours. On the lecture the floor matches PeerTube (SSIM equal, VMAF +1.1, 0.97x bytes).

The floor rung (short side <= FLOOR_HEIGHT, normally 240p) is for the weakest links: its PEAK,
video and audio together, stays under FLOOR_PEAK (300 kb/s) for any picture. A segment of
SEGMENT_SECONDS can carry at most maxrate x seconds + bufsize of video (the VBV buffer may start
full), so the floor takes a one-second buffer (bufsize = maxrate) and
maxrate + bufsize / SEGMENT_SECONDS + audio = FLOOR_PEAK less 10 kb/s for the fMP4 boxes, with
48 kb/s AAC (speech stays clear; every video bit counts there): 161 kb/s of video.

`Rung.bandwidth` is that planned peak for every rung (maxrate + bufsize / SEGMENT_SECONDS + audio);
the master playlist states the peak and average measured on the finished segments.
Audio is AAC-LC stereo: 128 kb/s from 480p up, 96 kb/s at 360p, 48 kb/s on the floor.

CODECS names exactly what the command asks x264 for: High profile at the smallest H.264 level
(3.0 at least) whose frame size, macroblock rate and bitrate/CPB limits the rung's caps fit.
"""

from dataclasses import dataclass
from fractions import Fraction

from courseware.transcode.probe import MediaInfo

DEFAULT_HEIGHTS: tuple[int, ...] = (1080, 720, 480, 360, 240)
# Segment length, in seconds: short, so the first segment arrives quickly on a slow link.
SEGMENT_SECONDS = 2
FLOOR_HEIGHT = 240
FLOOR_PEAK = 300_000
AUDIO_CODECS = "mp4a.40.2"
AUDIO_ONLY_BITRATE = 128_000

# (smallest short side, -maxrate bits per pixel, x264 CRF); first match wins.
_RATE_CONTROL: tuple[tuple[int, float, int], ...] = (
    (2160, 0.08, 24),
    (1440, 0.09, 24),
    (1080, 0.10, 24),
    (720, 0.11, 24),
    (480, 0.12, 24),
    (360, 0.15, 24),
    (240, 0.17, 24),
    (0, 0.19, 24),
)
# x264 presets: the floor is small (a ninth of 720p's pixels) and starved of bits, so a slower
# search there buys quality for little CPU; every other rung is encoded veryfast.
PRESET = "veryfast"
FLOOR_PRESET = "medium"
_PRESETS = frozenset({"ultrafast", "superfast", PRESET, "faster", "fast", FLOOR_PRESET, "slow"})
_MIN_BITS_PER_PIXEL = 0.02
_SOURCE_MARGIN = 1.3
# What the fMP4 boxes of a segment add to its bit rate, at most; kept out of the floor's budget.
_CONTAINER_MARGIN = 10_000
_FLOOR_AUDIO_BITRATE = 48_000
_MAX_CRF = 51

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

    An audio-only rendition (name "audio") has width = height = 0, frame_rate 0, crf 0, no video
    caps and level 0. `bandwidth` is the planned peak in bits/s: the most video a full segment can
    carry under the VBV cap (maxrate + bufsize / SEGMENT_SECONDS) plus audio; the master playlist
    states the peak measured on the finished segments (RFC 8216 4.3.4.2).
    """

    name: str
    width: int
    height: int
    frame_rate: Fraction
    crf: int
    preset: str
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
            if not 0 < self.maxrate <= self.bufsize:
                raise ValueError("need 0 < maxrate <= bufsize")
            if not 0 < self.crf <= _MAX_CRF:
                raise ValueError(f"crf must be within 1..{_MAX_CRF}, got {self.crf}")
            if self.preset not in _PRESETS:
                raise ValueError(f"unknown x264 preset {self.preset!r}")
            if self.frame_rate <= 0:
                raise ValueError("a video rung needs a frame rate")
        elif self.audio_bitrate <= 0 or self.crf or self.preset or self.maxrate or self.bufsize:
            raise ValueError("an audio-only rung has an audio bitrate and no video rate control")
        if self.bandwidth != planned_peak(self.maxrate, self.bufsize, self.audio_bitrate):
            raise ValueError("bandwidth must be maxrate + bufsize / SEGMENT_SECONDS + audio")

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
                crf=0,
                preset="",
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


def planned_peak(maxrate: int, bufsize: int, audio_bitrate: int) -> int:
    """The most bits per second a full segment can carry: VBV lets a segment hold maxrate for its
    length plus one full buffer of video; audio adds its constant rate."""
    return maxrate + -(-bufsize // SEGMENT_SECONDS) + audio_bitrate


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
    cap_bpp, crf = next((b, c) for s, b, c in _RATE_CONTROL if short_side >= s)
    cap = pixel_rate * cap_bpp
    if info.bit_rate:
        cap = min(cap, info.bit_rate * _SOURCE_MARGIN)
    cap = max(cap, pixel_rate * _MIN_BITS_PER_PIXEL)
    if short_side <= FLOOR_HEIGHT:
        audio_bitrate = _FLOOR_AUDIO_BITRATE if info.has_audio else 0
        # maxrate + bufsize / SEGMENT_SECONDS (bufsize = maxrate) fills what audio leaves.
        budget = FLOOR_PEAK - _CONTAINER_MARGIN - audio_bitrate
        maxrate = min(_kbps(cap), _kbps_floor(budget * SEGMENT_SECONDS / (SEGMENT_SECONDS + 1)))
        bufsize = maxrate
    else:
        audio_bitrate = (128_000 if short_side >= 480 else 96_000) if info.has_audio else 0
        maxrate = _kbps(cap)
        bufsize = 2 * maxrate
    level = h264_level(
        width=width, height=height, fps=float(rate), maxrate=maxrate, bufsize=bufsize
    )
    video_codecs = f"avc1.{_PROFILE_IDC:02x}{_CONSTRAINT_FLAGS:02x}{level:02x}"
    return Rung(
        name=f"{short_side}p",
        width=width,
        height=height,
        frame_rate=rate,
        crf=crf,
        preset=FLOOR_PRESET if short_side <= FLOOR_HEIGHT else PRESET,
        maxrate=maxrate,
        bufsize=bufsize,
        audio_bitrate=audio_bitrate,
        level=level,
        bandwidth=planned_peak(maxrate, bufsize, audio_bitrate),
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


def _kbps_floor(bits_per_second: float) -> int:
    """Round a bitrate down to whole kilobits per second, at least 1 kb/s."""
    return max(1000, int(bits_per_second // 1000) * 1000)
