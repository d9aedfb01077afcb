"""Run a transcode: probe, plan, one ffmpeg for ladder and poster, verify, write the master.

Progress comes from ffmpeg's `-progress pipe:1` (out_time_us against the probed duration), reported
as a rising fraction that reaches 1.0 only once everything is written. Cancelling: an exception
raised by `on_progress` (a cancelled job), a KeyboardInterrupt, or any other exception kills the
ffmpeg child before it propagates; a watchdog thread kills it within a tenth of a second once
`cancel` is set (TranscodeCancelled) or `timeout` has passed (MediaError "timeout"). No ffmpeg
outlives the call. A retried job may reuse `out_dir`: the rung directories, master and poster are
cleared first, and the master is written last, so its presence means the tree is complete.
"""

import math
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.media import background_child
from courseware.transcode.command import INIT_NAME, PLAYLIST_NAME, build_command
from courseware.transcode.errors import MediaError, TranscodeCancelled
from courseware.transcode.ladder import DEFAULT_HEIGHTS, SEGMENT_SECONDS, Rung, plan_ladder
from courseware.transcode.probe import MediaInfo, probe_media

MASTER_NAME = "master.m3u8"
POSTER_NAME = "poster.jpg"
# The master lists first the largest rung whose measured peak is at most this (bits/s).
START_PEAK = 1_000_000
# Share of the probed duration the output may fall short by before the source counts as cut.
_SHORTFALL = 0.05
_STDERR_LINES = 40
# How often the watchdog looks at `cancel` and the clock while ffmpeg runs.
_WATCH_SECONDS = 0.1
# Progress is reported in steps of at least this much; 1.0 is kept for "all written".
_PROGRESS_STEP = 0.01
_PROGRESS_CEILING = 0.99
_STDERR_REASONS = (
    ("No space left on device", "disk_full"),
    ("Invalid data found when processing input", "undecodable"),
)


@dataclass(frozen=True)
class TranscodeResult:
    """A finished HLS tree: what the source was, the rungs made, and the files to upload.

    `files` is the HLS tree, relative to the output directory, in a safe upload order: each
    rung's init section and segments before its playlist, the master playlist last. The poster
    (None for audio) lies in the same directory but is not in `files`: it has its own object key.
    `bandwidths` holds, per rung name, the BANDWIDTH the master playlist states (measured peak).
    """

    info: MediaInfo
    rungs: list[Rung]
    master: Path
    poster: Path | None
    files: list[Path]
    bandwidths: dict[str, int]


@dataclass(frozen=True)
class _Segment:
    """One media segment of a rung playlist: its file and its EXTINF duration."""

    path: Path
    duration: float


def transcode(
    *,
    source: Path,
    out_dir: Path,
    on_progress: Callable[[float], None] | None = None,
    heights: tuple[int, ...] = DEFAULT_HEIGHTS,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> TranscodeResult:
    """Turn `source` into an fMP4 HLS ladder with a master playlist and poster under `out_dir`."""
    if cancel is not None and cancel.is_set():
        raise TranscodeCancelled
    info = probe_media(source)
    rungs = plan_ladder(info, heights)
    _clear(out_dir, rungs)
    for rung in rungs:
        (out_dir / rung.name).mkdir(parents=True)
    poster = out_dir / POSTER_NAME if info.has_video else None
    command = build_command(
        source=source,
        out_dir=out_dir,
        info=info,
        rungs=rungs,
        segment_seconds=SEGMENT_SECONDS,
        poster=poster,
    )
    _run_ffmpeg(
        command, duration=info.duration, on_progress=on_progress, timeout=timeout, cancel=cancel
    )

    segments = {rung.name: _finish_rung(out_dir / rung.name, info) for rung in rungs}
    if poster is not None and (not poster.is_file() or poster.stat().st_size == 0):
        raise MediaError("output_incomplete", "ffmpeg wrote no poster frame")
    measured = {rung.name: _measured_bandwidth(segments[rung.name]) for rung in rungs}
    master = out_dir / MASTER_NAME
    master.write_text(_master_playlist(rungs, measured), encoding="utf-8")

    files: list[Path] = []
    for rung in rungs:
        files += [Path(rung.name) / INIT_NAME]
        files += [s.path.relative_to(out_dir) for s in segments[rung.name]]
        files += [Path(rung.name) / PLAYLIST_NAME]
    files.append(Path(MASTER_NAME))
    if on_progress is not None:
        on_progress(1.0)
    return TranscodeResult(
        info=info,
        rungs=rungs,
        master=master,
        poster=poster,
        files=files,
        bandwidths={name: peak for name, (peak, _) in measured.items()},
    )


def _clear(out_dir: Path, rungs: list[Rung]) -> None:
    """Remove what an earlier attempt may have left: the master first, then rungs and poster."""
    (out_dir / MASTER_NAME).unlink(missing_ok=True)
    (out_dir / POSTER_NAME).unlink(missing_ok=True)
    for rung in rungs:
        shutil.rmtree(out_dir / rung.name, ignore_errors=True)


def _run_ffmpeg(
    command: list[str],
    *,
    duration: float = 0.0,
    on_progress: Callable[[float], None] | None = None,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Run ffmpeg to completion, feeding -progress to `on_progress`; kill it on any exception,
    once `cancel` is set or once `timeout` seconds have passed."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        preexec_fn=background_child,
    )
    assert process.stdout is not None and process.stderr is not None
    tail: deque[str] = deque(maxlen=_STDERR_LINES)
    drain = threading.Thread(target=tail.extend, args=(process.stderr,), daemon=True)
    drain.start()
    finished = threading.Event()
    killed_for: list[str] = []
    deadline = None if timeout is None else time.monotonic() + timeout

    def watch() -> None:
        while not finished.wait(_WATCH_SECONDS):
            if cancel is not None and cancel.is_set():
                killed_for.append("cancel")
            elif deadline is not None and time.monotonic() >= deadline:
                killed_for.append("timeout")
            else:
                continue
            process.kill()
            return

    watchdog = threading.Thread(target=watch, name="ffmpeg-watchdog", daemon=True)
    if cancel is not None or deadline is not None:
        watchdog.start()
    try:
        _follow_progress(process.stdout, duration=duration, on_progress=on_progress)
        returncode = process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        finished.set()
        if watchdog.is_alive():
            watchdog.join()
        drain.join()
        process.stdout.close()
        process.stderr.close()
    detail = "".join(tail)
    if killed_for == ["cancel"]:
        raise TranscodeCancelled
    if killed_for == ["timeout"]:
        raise MediaError("timeout", f"killed after {timeout} s\n{detail}")
    if returncode != 0:
        code = next((c for text, c in _STDERR_REASONS if text in detail), "transcode_failed")
        raise MediaError(code, f"ffmpeg exited with {returncode}\n{detail}")


def _follow_progress(
    lines: Iterable[str], *, duration: float, on_progress: Callable[[float], None] | None
) -> None:
    """Turn `out_time_us=` lines into a rising fraction of `duration`, in steps of 1%."""
    reported = 0.0
    for line in lines:
        key, _, value = line.strip().partition("=")
        if on_progress is None or key != "out_time_us" or duration <= 0:
            continue
        try:
            done = int(value) / (duration * 1_000_000)
        except ValueError:
            continue  # ffmpeg prints N/A before the first frame is out
        fraction = min(done, _PROGRESS_CEILING)
        if fraction >= reported + _PROGRESS_STEP:
            reported = fraction
            on_progress(fraction)


def _finish_rung(rung_dir: Path, info: MediaInfo) -> list[_Segment]:
    """Check a rung's playlist and files, name its init section `init.mp4`, return its segments."""
    playlist = rung_dir / PLAYLIST_NAME
    if not playlist.is_file():
        raise MediaError("output_incomplete", f"{playlist} is missing")
    text = playlist.read_text(encoding="utf-8")
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)
    if init is None or not (rung_dir / init.group(1)).is_file():
        raise MediaError("output_incomplete", f"{playlist} has no init section")
    if init.group(1) != INIT_NAME:
        (rung_dir / init.group(1)).rename(rung_dir / INIT_NAME)
        text = text.replace(f'URI="{init.group(1)}"', f'URI="{INIT_NAME}"')
        playlist.write_text(text, encoding="utf-8")
    segments = [
        _Segment(rung_dir / name, float(seconds))
        for seconds, name in re.findall(r"#EXTINF:([0-9.]+),\s*\n(\S+)", text)
    ]
    if not segments or "#EXT-X-ENDLIST" not in text:
        raise MediaError("output_incomplete", f"{playlist} has no segments or no end")
    missing = [s.path.name for s in segments if not s.path.is_file()]
    if missing:
        raise MediaError("output_incomplete", f"{rung_dir.name} lacks {missing[:3]}")
    produced = sum(s.duration for s in segments)
    if produced < info.duration * (1 - _SHORTFALL) - 1.0:
        raise MediaError("truncated", f"{rung_dir.name}: {produced:.2f}s of {info.duration:.2f}s")
    return segments


def _master_playlist(rungs: list[Rung], measured: dict[str, tuple[int, int]]) -> str:
    """The master playlist, starting rung first (see `_listing_order`), with the peak and average
    bandwidths measured on each rung's segments."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rung in _listing_order(rungs, {name: peak for name, (peak, _) in measured.items()}):
        peak, average = measured[rung.name]
        attributes = [f"BANDWIDTH={peak}", f"AVERAGE-BANDWIDTH={average}"]
        if rung.has_video:
            attributes.append(f"RESOLUTION={rung.width}x{rung.height}")
        attributes.append(f'CODECS="{rung.codecs}"')
        if rung.has_video:
            attributes.append(f"FRAME-RATE={float(rung.frame_rate):.3f}")
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attributes), f"{rung.name}/{PLAYLIST_NAME}"]
    return "\n".join(lines) + "\n"


def _listing_order(rungs: list[Rung], peaks: dict[str, int]) -> list[Rung]:
    """The rungs in the order the master lists them: first the one with the highest measured peak
    at or below START_PEAK (else the lowest), then the rest, largest first.

    A player that has measured nothing yet starts on the first variant listed: Safari and every
    native HLS player do (RFC 8216 section 6.3.1 makes the first entry the default), and hls.js
    starts on the first listed level too unless told otherwise. Listing the top rung first made a
    village link wait for a 1.6 MB first segment; a rung whose peak a modest link sustains starts
    quickly, and the player climbs once it has measured the link.
    """
    fitting = [r for r in rungs if peaks[r.name] <= START_PEAK]
    first = max(fitting, key=lambda r: peaks[r.name]) if fitting else rungs[-1]
    return [first, *(r for r in rungs if r is not first)]


def _measured_bandwidth(segments: list[_Segment]) -> tuple[int, int]:
    """Peak and average segment bit rate as RFC 8216 defines them (section 4.3.4.2).

    The peak is the highest rate of any run of consecutive segments lasting 0.5 to 1.5 target
    durations (so a short last segment is judged with its neighbour); a presentation shorter than
    half a target duration is one run.
    """
    sizes = [s.path.stat().st_size * 8 for s in segments]
    durations = [s.duration for s in segments]
    target = max(math.ceil(d) for d in durations)
    total = sum(durations)
    average = math.ceil(sum(sizes) / total) if total > 0 else sum(sizes)
    peak = 0.0
    for start in range(len(segments)):
        bits = seconds = 0.0
        for end in range(start, len(segments)):
            bits += sizes[end]
            seconds += durations[end]
            if seconds > 1.5 * target:
                break
            if seconds >= 0.5 * target:
                peak = max(peak, bits / seconds)
    if peak == 0.0:
        peak = sum(sizes) / total if total > 0 else float(sum(sizes))
    return math.ceil(peak), average
