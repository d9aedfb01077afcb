"""Build the ffmpeg arguments: one process for the whole ladder and the poster.

Plain argument lists, not ffmpeg-python: the graph is fixed (one `split`, one `asplit`), and the
per-output-stream options (`-crf:v:1`) and `-var_stream_map` entries are addressed by the order of
the `-map`s, which a list states outright and ffmpeg-python leaves implicit. The list is also what
an operator pastes into a shell to reproduce a failure, and what bench/transcode.py compares with.

The ladder command decodes the source once. ffmpeg turns a rotated picture upright while decoding
(autorotate, on by default), so the graph sees display-oriented frames and scales to the rung sizes
as planned. Video: `fps` (constant rate: VFR sources come out CFR, identical frame times on every
rung), `format=yuv420p` (10-bit and 4:4:4 sources become 8-bit 4:2:0, once, before the split), then
`split` and one `scale` per rung. Every rung gets the same GOP (-g = -keyint_min, no scene-cut
keyframes, x264's default closed GOP), so keyframes and therefore segment boundaries line up across
rungs and a player can switch at any segment. Rate control is each rung's CRF under its VBV cap
(`-crf:v:i`, `-maxrate:v:i`, `-bufsize:v:i`, never `-b:v`), with up to 16 B-frames placed by x264's
fast heuristic (`-bf 16 -b_strategy 1`, PeerTube's choice; see ladder.py for the figures).

Audio is decoded and resampled to 48 kHz stereo once (`aresample` + `aformat` upmix mono and
downmix surround), then `asplit` gives every video rung its own AAC encode, muxed into that rung.
Sharing one encoded audio stream is not possible: the HLS muxer refuses an elementary stream in two
variants ("Same elementary stream found more than once"); an audio group would make every rung
depend on a second playlist, where a muxed rung is one self-contained directory (what a terminal
site downloads). AAC costs about 1% of the x264 encodes.

When the source has audio, the picture is held on its last frame (`tpad`) up to the probed
duration (`trim`): a lecture whose camera stopped before the microphone keeps its sound, and HLS
segment durations (which the muxer takes from the video) stay true. It costs nothing otherwise.

The poster is one more branch of the same split: `trim` from 10% of the duration, scaled to at
most 720 pixels wide, one JPEG frame. No second decode, and no input seek (which raw streams
cannot do).

The HLS muxer writes fMP4 segments `{name}/seg_00001.m4s`, `{name}/index.m3u8` and the init
section; with more than one variant it names that `init_{i}.mp4`, which the runner renames to
`init.mp4`. The master playlist is left to the runner, which states measured bandwidths.
"""

from fractions import Fraction
from pathlib import Path

from core.media import ffmpeg_exe
from courseware.transcode.ladder import SEGMENT_SECONDS, Rung
from courseware.transcode.probe import MediaInfo

AUDIO_RATE = 48_000
INIT_NAME = "init.mp4"
SEGMENT_PATTERN = "seg_%05d.m4s"
PLAYLIST_NAME = "index.m3u8"
POSTER_WIDTH = 720
POSTER_AT = 0.10
# Keyframe interval, in seconds: a segment holds whole GOPs, so this divides SEGMENT_SECONDS.
GOP_SECONDS = 2
B_FRAMES = 16
# Frames x264 looks ahead for frame types, macroblock-tree and VBV planning (veryfast uses 10).
LOOKAHEAD = 40


def build_command(
    *,
    source: Path,
    out_dir: Path,
    info: MediaInfo,
    rungs: list[Rung],
    segment_seconds: int = SEGMENT_SECONDS,
    gop_seconds: int = GOP_SECONDS,
    poster: Path | None = None,
) -> list[str]:
    """Return the ffmpeg arguments that encode every rung from `source` in one process, and
    save a poster frame to `poster` when given (video sources only)."""
    if not rungs:
        raise ValueError("no rungs to encode")
    if segment_seconds % gop_seconds:
        raise ValueError("segments must hold whole GOPs")
    out = out_dir.resolve()
    if "%" in str(out):
        raise ValueError(f"the HLS muxer treats % in {out} as a pattern")
    video = [r for r in rungs if r.has_video]
    if video and len(video) != len(rungs):
        raise ValueError("a ladder is either all video rungs or one audio rendition")
    if video and not info.has_video:
        raise ValueError("video rungs for a source without video")
    audio = info.has_audio
    if not video and (not audio or len(rungs) != 1):
        raise ValueError("an audio-only ladder has exactly one rung and needs audio")
    if poster is not None and not video:
        raise ValueError("a poster needs video")

    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "warning", "-nostats"]
    args += ["-progress", "pipe:1", "-y", "-i", str(source.resolve())]
    args += ["-filter_complex", _filter_graph(info, rungs, poster=poster is not None)]
    variants = []
    for i, rung in enumerate(rungs):
        entry = []
        if rung.has_video:
            args += ["-map", f"[v{i}]"]
            entry.append(f"v:{i}")
        if audio:
            args += ["-map", f"[a{i}]"]
            entry.append(f"a:{i}")
        variants.append(",".join([*entry, f"name:{rung.name}"]))
    if video:
        gop = max(1, round(video[0].frame_rate * gop_seconds))
        args += ["-c:v", "libx264", "-profile:v", "high"]
        args += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-fps_mode", "cfr"]
        args += ["-bf", str(B_FRAMES), "-b_strategy", "1", "-rc-lookahead", str(LOOKAHEAD)]
        for i, rung in enumerate(video):
            args += [f"-preset:v:{i}", rung.preset, f"-crf:v:{i}", str(rung.crf)]
            args += [f"-maxrate:v:{i}", str(rung.maxrate)]
            args += [f"-bufsize:v:{i}", str(rung.bufsize), f"-level:v:{i}", _level(rung.level)]
    if audio:
        args += ["-c:a", "aac"]
        for i, rung in enumerate(rungs):
            args += [f"-b:a:{i}", str(rung.audio_bitrate)]
    args += ["-map_metadata", "-1", "-map_chapters", "-1"]
    args += ["-f", "hls", "-hls_time", str(segment_seconds), "-hls_playlist_type", "vod"]
    args += ["-hls_segment_type", "fmp4", "-hls_flags", "independent_segments"]
    args += ["-hls_fmp4_init_filename", INIT_NAME, "-start_number", "1"]
    args += ["-hls_segment_filename", str(out / "%v" / SEGMENT_PATTERN)]
    args += ["-var_stream_map", " ".join(variants), str(out / "%v" / PLAYLIST_NAME)]
    if poster is not None:
        args += ["-map", "[poster]", "-frames:v", "1", "-q:v", "3", "-map_metadata", "-1"]
        args += ["-update", "1", str(poster.resolve())]
    return args


def _filter_graph(info: MediaInfo, rungs: list[Rung], *, poster: bool) -> str:
    """The -filter_complex text: decode once, convert once, split to the rungs (and poster)."""
    chains = []
    video = [r for r in rungs if r.has_video]
    if video:
        head = f"[0:{info.video_stream}]fps={_rate(video[0].frame_rate)}"
        if info.has_audio:
            end = f"{info.duration:.3f}"
            head += f",tpad=stop_mode=clone:stop_duration={end},trim=end={end}"
        head += ",format=yuv420p"
        branches = [_scale(rung.width, rung.height) for rung in video]
        outputs = [f"[v{i}]" for i in range(len(video))]
        if poster:
            at = f"{info.duration * POSTER_AT:.3f}"
            width = max(2, min(POSTER_WIDTH, info.width - info.width % 2))
            height = max(2, 2 * round(width * info.height / info.width / 2))
            branches.append(f"trim=start={at},{_scale(width, height)}")
            outputs.append("[poster]")
        if len(branches) == 1:
            chains.append(f"{head},{branches[0]}{outputs[0]}")
        else:
            labels = "".join(f"[s{i}]" for i in range(len(branches)))
            chains.append(f"{head},split={len(branches)}{labels}")
            chains += [
                f"[s{i}]{b}{o}" for i, (b, o) in enumerate(zip(branches, outputs, strict=True))
            ]
    if info.has_audio:
        head = (
            f"[0:{info.audio_stream}]aresample={AUDIO_RATE},"
            f"aformat=sample_fmts=fltp:sample_rates={AUDIO_RATE}:channel_layouts=stereo"
        )
        if len(rungs) == 1:
            chains.append(f"{head}[a0]")
        else:
            labels = "".join(f"[a{i}]" for i in range(len(rungs)))
            chains.append(f"{head},asplit={len(rungs)}{labels}")
    return ";".join(chains)


def _scale(width: int, height: int) -> str:
    """Scale to a size with square pixels."""
    return f"scale={width}:{height},setsar=1"


def _rate(rate: Fraction) -> str:
    """A frame rate as ffmpeg reads it: 25 or 30000/1001."""
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def _level(level_idc: int) -> str:
    """An H.264 level_idc (31) as x264's option reads it (3.1)."""
    return f"{level_idc // 10}.{level_idc % 10}"
