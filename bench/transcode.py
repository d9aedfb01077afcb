"""Transcode benchmark: the decode-once ladder against one ffmpeg per rung and against ffmpeg bare.

Source: a 60 s 1280x720 30 fps test pattern with a tone, encoded like a camera file (x264 veryfast
at 8 Mb/s), cached in the temp directory. Three ways to make the 720p/480p/360p/240p HLS ladder:

  ours        courseware.transcode.runner.transcode(): probe, one ffmpeg (decode once, split to
              the rungs and the poster), verify, master playlist. What the worker runs.
  per_rung    one ffmpeg per rung, one after the other, each decoding the whole source and encoding
              one rung with the same settings (build_command with that rung alone, no poster):
              the common way.
  by_hand     ours's ffmpeg command written out below as a literal list and run bare, so
              ours / by_hand is the wrapper's overhead. The bench refuses to run if the literal
              and build_command() disagree, so the two always measure the same ffmpeg work.

The three run interleaved (the order rotates each round) for --rounds rounds; each figure is the
BEST (minimum) wall time over the rounds: on a shared machine other tenants only ever add time, so
the minimum is the closest to each way's own cost (the rule timeit follows). CPU seconds (ffmpeg
children plus this process) are printed too. The last line printed is
`ladder_vs_per_rung=R1 overhead_vs_ffmpeg=R2 realtime=X` with R1 = ours / per_rung,
R2 = ours / by_hand and X = source seconds / ours. Targets: R1 <= 0.85, R2 <= 1.05.

    .venv/bin/python bench/transcode.py               # full size, 3 rounds
    .venv/bin/python bench/transcode.py --seconds 8   # smoke run
"""

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.media lives in the checkout

from core.media import ffmpeg_exe  # noqa: E402
from courseware.transcode.command import build_command  # noqa: E402
from courseware.transcode.ladder import SEGMENT_SECONDS, plan_ladder  # noqa: E402
from courseware.transcode.probe import probe_media  # noqa: E402
from courseware.transcode.runner import transcode  # noqa: E402
from tests.media import make_clip  # noqa: E402

HEIGHTS = (720, 480, 360, 240)
CACHE = Path(tempfile.gettempdir()) / "yuanjiao-bench"


def hand_written(source: Path, out: Path, seconds: float) -> list[str]:
    """The ladder (and poster) for the bench source as one would type it: ours's command."""
    end, poster_at = f"{seconds:.3f}", f"{seconds * 0.1:.3f}"
    return [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-nostats",
        "-progress",
        "pipe:1",
        "-y",
        "-i",
        str(source),
        "-filter_complex",
        f"[0:0]fps=30,tpad=stop_mode=clone:stop_duration={end},trim=end={end},"
        "format=yuv420p,split=5[s0][s1][s2][s3][s4];"
        "[s0]scale=1280:720,setsar=1[v0];"
        "[s1]scale=854:480,setsar=1[v1];"
        "[s2]scale=640:360,setsar=1[v2];"
        "[s3]scale=426:240,setsar=1[v3];"
        f"[s4]trim=start={poster_at},scale=720:404,setsar=1[poster];"
        "[0:1]aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
        "asplit=4[a0][a1][a2][a3]",
        *("-map", "[v0]", "-map", "[a0]", "-map", "[v1]", "-map", "[a1]"),
        *("-map", "[v2]", "-map", "[a2]", "-map", "[v3]", "-map", "[a3]"),
        *("-c:v", "libx264", "-profile:v", "high"),
        *("-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-fps_mode", "cfr"),
        *("-bf", "16", "-b_strategy", "1", "-rc-lookahead", "40"),
        *("-preset:v:0", "veryfast", "-crf:v:0", "24"),
        *("-maxrate:v:0", "3041000", "-bufsize:v:0", "6082000", "-level:v:0", "3.1"),
        *("-preset:v:1", "veryfast", "-crf:v:1", "24"),
        *("-maxrate:v:1", "1476000", "-bufsize:v:1", "2952000", "-level:v:1", "3.1"),
        *("-preset:v:2", "veryfast", "-crf:v:2", "24"),
        *("-maxrate:v:2", "1037000", "-bufsize:v:2", "2074000", "-level:v:2", "3.0"),
        *("-preset:v:3", "medium", "-crf:v:3", "24"),
        *("-maxrate:v:3", "161000", "-bufsize:v:3", "161000", "-level:v:3", "3.0"),
        *("-c:a", "aac", "-b:a:0", "128000", "-b:a:1", "128000", "-b:a:2", "96000"),
        *("-b:a:3", "48000", "-map_metadata", "-1", "-map_chapters", "-1"),
        *("-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod"),
        *("-hls_segment_type", "fmp4", "-hls_flags", "independent_segments"),
        *("-hls_fmp4_init_filename", "init.mp4", "-start_number", "1"),
        *("-hls_segment_filename", str(out / "%v" / "seg_%05d.m4s")),
        *(
            "-var_stream_map",
            "v:0,a:0,name:720p v:1,a:1,name:480p v:2,a:2,name:360p v:3,a:3,name:240p",
        ),
        str(out / "%v" / "index.m3u8"),
        *("-map", "[poster]", "-frames:v", "1", "-q:v", "3", "-map_metadata", "-1"),
        *("-update", "1", str(out / "poster.jpg")),
    ]


def bench_source(seconds: int) -> Path:
    """The cached 720p30 source of `seconds` seconds, made once per temp directory."""
    path = CACHE / f"source-720p30-{seconds}s.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"partial-{path.name}")
        make_clip(
            partial,
            seconds=seconds,
            width=1280,
            height=720,
            fps=30,
            audio_rate=48000,
            preset="veryfast",
            video_bitrate="8M",
        )
        partial.rename(path)
    return path


def run_bare(command: list[str]) -> None:
    """Run one ffmpeg command; stop the bench with its stderr if it fails."""
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ffmpeg failed ({done.returncode}): {done.stderr[-3000:]}")


def cpu_seconds() -> float:
    """User + system CPU seconds used so far by this process and its finished children."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    """Time the three ways, interleaved, and print the ratios of the best times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=60, help="source length (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    options = parser.parse_args()

    source = bench_source(options.seconds)
    info = probe_media(source)
    rungs = plan_ladder(info, HEIGHTS)
    work = Path(tempfile.mkdtemp(prefix="yuanjiao-bench-"))
    check = (work / "check").resolve()
    built = build_command(
        source=source, out_dir=check, info=info, rungs=rungs, poster=check / "poster.jpg"
    )
    if built != hand_written(source.resolve(), check, info.duration):
        raise SystemExit("bench/transcode.py: the hand-written command no longer matches ours")

    def ours(out: Path) -> None:
        transcode(source=source, out_dir=out, heights=HEIGHTS)

    def per_rung(out: Path) -> None:
        for rung in rungs:
            run_bare(
                build_command(
                    source=source,
                    out_dir=out,
                    info=info,
                    rungs=[rung],
                    segment_seconds=SEGMENT_SECONDS,
                )
            )

    def by_hand(out: Path) -> None:
        run_bare(hand_written(source.resolve(), out.resolve(), info.duration))

    ways: dict[str, Callable[[Path], None]] = {
        "ours": ours,
        "per_rung": per_rung,
        "by_hand": by_hand,
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    print(f"source {source} ({info.duration:.1f} s, {info.width}x{info.height}@{info.fps:g})")
    try:
        for round_ in range(options.rounds):
            names = list(ways)
            names = names[round_ % 3 :] + names[: round_ % 3]
            for name in names:
                out = work / name
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                started, cpu_before = time.perf_counter(), cpu_seconds()
                ways[name](out)
                times[name].append(time.perf_counter() - started)
                cpu[name].append(cpu_seconds() - cpu_before)
                print(
                    f"round {round_ + 1} {name:9} {times[name][-1]:7.2f} s wall"
                    f" {cpu[name][-1]:7.2f} s cpu",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    best = {name: min(values) for name, values in times.items()}
    best_cpu = {name: min(values) for name, values in cpu.items()}
    for name, value in best.items():
        print(f"best {name:9} {value:7.2f} s wall {best_cpu[name]:7.2f} s cpu")
    print(
        f"cpu: ladder_vs_per_rung={best_cpu['ours'] / best_cpu['per_rung']:.2f} "
        f"overhead_vs_ffmpeg={best_cpu['ours'] / best_cpu['by_hand']:.2f}"
    )
    print(
        f"ladder_vs_per_rung={best['ours'] / best['per_rung']:.2f} "
        f"overhead_vs_ffmpeg={best['ours'] / best['by_hand']:.2f} "
        f"realtime={info.duration / best['ours']:.2f}"
    )


if __name__ == "__main__":
    main()
