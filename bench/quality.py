"""Quality benchmark: our ladder against PeerTube's VOD recipe, rung by rung, on the same sources.

Two 1280x720 30 fps sources are generated with the bundled ffmpeg and cached in the temp directory,
each encoded like a good camera file (x264 CRF 12) with 128 kb/s AAC:

  camera    a zooming Mandelbrot set (motion, fine detail everywhere) with temporal grain and a
            moving test pattern on top: the hard case, where the caps decide.
  lecture   white slides of text that change every 5 s, a small moving "talking head" in a corner
            and a speech-like sound: the common case, mostly still.

Two ways to make the 720p/480p/360p/240p renditions, with the same ffmpeg in the same run:

  ours      courseware.transcode.runner.transcode(): one ffmpeg, decode once, every rung and the
            poster (the worker's real command, from build_command).
  peertube  one ffmpeg per rung from the source, as PeerTube's default profile asks
            (packages/ffmpeg/src/ffmpeg-default-transcoding-profile.ts): libx264 -preset veryfast,
            no -b:v nor -crf (x264's CRF 23), -maxrate T -bufsize 2T where T is its average
            bits-per-pixel table capped at the source bitrate + 30% (getTargetBitrate), -b_strategy
            1 -bf 16, -r fps, -g 2 s; the AAC source audio is copied, as PeerTube does when it can.

The floor rung (240p) is held to a 300 kb/s peak, where PeerTube's 240p may use 521 kb/s on
average and more at peaks. Quality at a budget nearly twice ours says nothing about the rate
control, so the floor is compared with PeerTube's recipe under the floor's own caps (row
`240p/caps`), like every other rung at equal terms; the gap to PeerTube's own 240p is printed
apart (`floor_vmaf_vs_peertube_240p`), as the price of the 300 kb/s budget.

Each rung's picture is compared with the source scaled to the rung's size (lanczos, 4:2:0):
SSIM (all planes), PSNR (average) and VMAF (libvmaf's built-in vmaf_v0.6.1 model), in one ffmpeg
pass per rung. Video bytes are the video packets' sizes (containers and audio left out). CPU is
user + system time of the ffmpeg children: our whole ladder against the sum of PeerTube's per-rung
encodes. The last line printed is

  bytes_vs_peertube_camera=B1 bytes_vs_peertube_lecture=B2 worst_ssim_delta=S worst_vmaf_delta=V
  cpu_vs_peertube=C floor_vmaf_vs_peertube_240p=F

with B = our ladder's video bytes / PeerTube's over all rungs, S and V the lowest (ours - PeerTube)
over every rung of both sources (the floor under its own caps), C = our CPU / PeerTube's, F the
floor's VMAF against PeerTube's own 240p. Targets: B <= 1.0, S >= -0.002, V >= -1, C <= 0.8.

    .venv/bin/python bench/quality.py                # 10 s sources (about 4 min on 2 cores)
    .venv/bin/python bench/quality.py --seconds 4    # smoke run
"""

import argparse
import io
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.media import ffmpeg_exe  # noqa: E402
from courseware.transcode.ladder import (  # noqa: E402
    FLOOR_HEIGHT,
    Rung,
    output_frame_rate,
    plan_ladder,
)
from courseware.transcode.probe import MediaInfo, probe_media  # noqa: E402
from courseware.transcode.runner import transcode  # noqa: E402

HEIGHTS = (720, 480, 360, 240)
WIDTH, HEIGHT, FPS = 1280, 720, 30
CACHE = Path(tempfile.gettempdir()) / "yuanjiao-bench"
# Seconds one ffmpeg may take (source generation, one encode, one measurement) before the bench
# gives up: several times what the slowest takes on two busy cores.
STEP_TIMEOUT = 900.0
# PeerTube's average bits per pixel by rung height (packages/core-utils/src/videos/bitrate.ts).
PEERTUBE_AVERAGE_BPP = ((2160, 0.08), (1440, 0.09), (1080, 0.10), (720, 0.11), (480, 0.12))
PEERTUBE_AVERAGE_BPP += ((360, 0.15), (240, 0.17), (144, 0.19))
PEERTUBE_MIN_BPP = 0.02
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))


@dataclass(frozen=True)
class Score:
    """One encoded rung measured against the scaled source."""

    video_bytes: int
    ssim: float
    psnr: float
    vmaf: float


def ffmpeg(*args: str, timeout: float = STEP_TIMEOUT) -> str:
    """Run the bundled ffmpeg; return its stderr, or stop the bench with it on failure."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise SystemExit(f"ffmpeg timed out after {timeout:.0f} s: {' '.join(command)}") from exc
    if done.returncode != 0:
        raise SystemExit(f"ffmpeg failed ({done.returncode}): {done.stderr[-3000:]}")
    return done.stderr


def children_cpu() -> float:
    """User + system CPU seconds of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def font_file() -> Path | None:
    """A TrueType/OpenType font for the slides' text, if the machine has one."""
    for folder in FONT_DIRS:
        for pattern in ("**/DejaVuSans.ttf", "**/*.ttf", "**/*.otf"):
            found = sorted(folder.glob(pattern)) if folder.is_dir() else []
            if found:
                return found[0]
    return None


def camera_graph(seconds: int) -> str:
    """Zooming fractal + grain + a moving pattern: detail and motion in every part of the frame."""
    return (
        f"mandelbrot=size={WIDTH}x{HEIGHT}:rate={FPS}:start_scale=2.5:end_scale=0.2,"
        f"trim=duration={seconds},noise=alls=6:allf=t+u[bg];"
        f"testsrc2=size=320x240:rate={FPS}:duration={seconds}[fg];"
        f"[bg][fg]overlay=x='mod(t*120\\,{WIDTH - 320})'"
        f":y='{HEIGHT - 240}-mod(t*60\\,{HEIGHT - 240})'"
    )


def lecture_graph(seconds: int) -> str:
    """White slides of text changing every 5 s and a small moving face-sized area in a corner."""
    font = font_file()
    slide = f"color=white:size={WIDTH}x{HEIGHT}:rate={FPS}:duration={seconds}"
    # No colon, comma, quote or percent sign: drawtext and the graph parser would read them.
    lines = [
        ("Lesson 3 - soil and water", 64),
        ("- keep the seedbed moist but not wet", 40),
        ("- drip lines save a third of the water", 40),
        ("- mulch with 5 cm of straw after the first rain", 40),
        ("- check the pH twice a season (6.0 to 7.0)", 40),
    ]
    for n, (text, size) in enumerate(lines):
        y = 60 + n * 90
        if font is not None:
            for page in range(0, seconds, 5):
                words = text if page % 10 == 0 else text.upper()
                slide += (
                    f",drawtext=fontfile={font}:text='{words}':fontsize={size}:fontcolor=black"
                    f":x=60:y={y}:enable='between(t\\,{page}\\,{page + 5})'"
                )
        else:  # text-like stripes where no font is installed
            slide += f",drawbox=x=60:y={y}:w={16 * len(text)}:h={size // 2}:color=black:t=fill"
    return (
        f"{slide}[slide];"
        f"testsrc2=size=256x192:rate={FPS}:duration={seconds},noise=alls=8:allf=t[face];"
        f"[slide][face]overlay=x={WIDTH - 300}:y={HEIGHT - 230}"
    )


def make_source(kind: str, seconds: int) -> Path:
    """The cached source `kind` (camera or lecture) of `seconds` seconds, made once."""
    path = CACHE / f"quality-{kind}-{WIDTH}x{HEIGHT}p{FPS}-{seconds}s.mp4"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    picture = camera_graph(seconds) if kind == "camera" else lecture_graph(seconds)
    if kind == "camera":
        sound = f"sine=frequency=440:sample_rate=48000:duration={seconds}"
    else:  # pink noise that swells and fades a few times a second, like speech
        sound = (
            f"anoisesrc=color=pink:sample_rate=48000:amplitude=0.3:duration={seconds},"
            "tremolo=f=4:d=0.8"
        )
    partial = path.with_name(f"partial-{path.name}")
    ffmpeg(
        *("-loglevel", "error", "-filter_complex", picture, "-f", "lavfi", "-i", sound),
        *("-c:v", "libx264", "-preset", "veryfast", "-crf", "12", "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-b:a", "128k", "-ac", "2", "-shortest", str(partial)),
    )
    partial.rename(path)
    return path


def peertube_maxrate(info: MediaInfo, height: int, fps: float) -> int:
    """PeerTube's getTargetBitrate: the average table for the rung, capped at the source's video
    bitrate + 30%, at least 0.02 bits per pixel."""
    ratio = info.width / info.height
    pixels = height * height * ratio * fps
    bpp = next(b for h, b in PEERTUBE_AVERAGE_BPP if h <= height)
    target = pixels * bpp
    if info.bit_rate:
        target = min(target, info.bit_rate * 1.3)
    return int(max(pixels * PEERTUBE_MIN_BPP, target))


def peertube_rung(
    source: Path, info: MediaInfo, height: int, out: Path, caps: tuple[int, int] | None = None
) -> None:
    """Encode one rung the way PeerTube's default VOD profile does; `caps` (maxrate, bufsize)
    replaces its own VBV caps, to compare the two rate controls under the same caps."""
    fps = float(output_frame_rate(info.fps))
    maxrate = peertube_maxrate(info, height, fps)
    maxrate, bufsize = caps or (maxrate, 2 * maxrate)
    ffmpeg(
        *("-loglevel", "error", "-i", str(source), "-map", "0:v:0", "-map", "0:a:0"),
        *("-vf", f"scale=w=-2:h={height}", "-c:v", "libx264", "-preset", "veryfast"),
        *("-maxrate:v", str(maxrate), "-bufsize:v", str(bufsize)),
        *("-b_strategy", "1", "-bf", "16", "-r", f"{fps:g}", "-g", str(round(fps * 2))),
        *("-pix_fmt", "yuv420p", "-c:a", "copy", "-map_metadata", "-1"),
        *("-movflags", "faststart", str(out)),
    )


def our_rendition(rung_dir: Path, out: Path) -> None:
    """Join a rung's init section and segments into one playable fragmented MP4."""
    playlist = (rung_dir / "index.m3u8").read_text(encoding="utf-8")
    names = ["init.mp4", *re.findall(r"^(seg_\d+\.m4s)$", playlist, flags=re.MULTILINE)]
    out.write_bytes(b"".join((rung_dir / name).read_bytes() for name in names))


def video_facts(path: Path) -> tuple[int, int, int]:
    """Total size of the video packets in a file, and the picture's width and height."""
    with av.open(io.BytesIO(path.read_bytes())) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        return sum(packet.size for packet in container.demux(stream)), *size


def measure(encoded: Path, source: Path, rung: Rung) -> Score:
    """SSIM, PSNR and VMAF of `encoded` against the source scaled to its size."""
    total, width, height = video_facts(encoded)
    reference = (
        f"[1:v]fps={float(rung.frame_rate):g},scale={width}:{height}:flags=lanczos,"
        "format=yuv420p,setsar=1,setpts=PTS-STARTPTS[ref]"
    )
    graph = (
        f"[0:v]format=yuv420p,setsar=1,setpts=PTS-STARTPTS[dist];{reference};"
        "[ref]split=3[r0][r1][r2];[dist][r0]ssim[d1];[d1][r1]psnr[d2];"
        "[d2][r2]libvmaf=n_threads=2"
    )
    log = ffmpeg(
        *("-loglevel", "info", "-i", str(encoded), "-i", str(source)),
        *("-lavfi", graph, "-f", "null", "-"),
    )
    ssim = re.search(r"SSIM .* All:([0-9.]+)", log)
    psnr = re.search(r"PSNR .* average:([0-9.]+|inf)", log)
    vmaf = re.search(r"VMAF score: ([0-9.]+)", log)
    if ssim is None or psnr is None or vmaf is None:
        raise SystemExit(f"no SSIM/PSNR/VMAF in ffmpeg's log for {encoded}:\n{log[-3000:]}")
    return Score(
        video_bytes=total,
        ssim=float(ssim.group(1)),
        psnr=float(psnr.group(1)),
        vmaf=float(vmaf.group(1)),
    )


def compare(
    kind: str, source: Path, work: Path
) -> tuple[dict[str, tuple[Score, Score]], dict[str, tuple[Score, Score]], float, float]:
    """Both recipes on one source: per rung (ours, PeerTube's) scores; for the floor rung, ours
    against PeerTube's recipe under the floor's caps; then each recipe's CPU seconds."""
    info = probe_media(source)
    rungs = plan_ladder(info, HEIGHTS)
    ours_dir, theirs_dir = work / f"{kind}-ours", work / f"{kind}-peertube"
    theirs_dir.mkdir(parents=True)
    before = children_cpu()
    transcode(source=source, out_dir=ours_dir, heights=HEIGHTS, timeout=STEP_TIMEOUT)
    ours_cpu = children_cpu() - before
    before = children_cpu()
    for rung in rungs:
        peertube_rung(source, info, rung.height, theirs_dir / f"{rung.name}.mp4")
    theirs_cpu = children_cpu() - before
    scores, same_caps = {}, {}
    for rung in rungs:
        ours_file = work / f"{kind}-ours-{rung.name}.mp4"
        our_rendition(ours_dir / rung.name, ours_file)
        ours = measure(ours_file, source, rung)
        scores[rung.name] = (ours, measure(theirs_dir / f"{rung.name}.mp4", source, rung))
        if rung.short_side <= FLOOR_HEIGHT:
            capped = theirs_dir / f"{rung.name}-capped.mp4"
            peertube_rung(source, info, rung.height, capped, (rung.maxrate, rung.bufsize))
            same_caps[rung.name] = (ours, measure(capped, source, rung))
    return scores, same_caps, ours_cpu, theirs_cpu


def print_row(kind: str, name: str, ours: Score, theirs: Score) -> None:
    """One line of the per-rung table."""
    print(
        f"{kind:8} {name:9} {ours.video_bytes / 1000:8.1f} {theirs.video_bytes / 1000:8.1f} "
        f"{ours.video_bytes / theirs.video_bytes:5.2f} {ours.ssim:9.4f} {theirs.ssim:8.4f} "
        f"{ours.psnr:9.2f} {theirs.psnr:8.2f} {ours.vmaf:9.2f} {theirs.vmaf:8.2f}",
        flush=True,
    )


def main() -> None:
    """Encode both sources both ways, measure every rung, print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=10, help="source length (default 10)")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="yuanjiao-quality-"))
    ratios: dict[str, float] = {}
    ssim_deltas: list[float] = []
    vmaf_deltas: list[float] = []
    floor_vmaf_deltas: list[float] = []
    cpu_ours = cpu_theirs = 0.0
    print(
        f"{'source':8} {'rung':9} {'kB ours':>8} {'kB PT':>8} {'ratio':>5} "
        f"{'SSIM ours':>9} {'SSIM PT':>8} {'PSNR ours':>9} {'PSNR PT':>8} "
        f"{'VMAF ours':>9} {'VMAF PT':>8}"
    )
    try:
        for kind in ("camera", "lecture"):
            source = make_source(kind, options.seconds)
            scores, same_caps, ours_cpu, theirs_cpu = compare(kind, source, work)
            cpu_ours += ours_cpu
            cpu_theirs += theirs_cpu
            for name, (ours, theirs) in scores.items():
                print_row(kind, name, ours, theirs)
                if name in same_caps:  # the floor: its budget is the issue's, not a choice
                    floor_vmaf_deltas.append(ours.vmaf - theirs.vmaf)
                    ours, theirs = same_caps[name]
                    print_row(kind, f"{name}/caps", ours, theirs)
                ssim_deltas.append(ours.ssim - theirs.ssim)
                vmaf_deltas.append(ours.vmaf - theirs.vmaf)
            ratios[kind] = sum(o.video_bytes for o, _ in scores.values()) / sum(
                t.video_bytes for _, t in scores.values()
            )
            print(f"{kind}: cpu ours {ours_cpu:.1f} s, PeerTube {theirs_cpu:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"bytes_vs_peertube_camera={ratios['camera']:.2f} "
        f"bytes_vs_peertube_lecture={ratios['lecture']:.2f} "
        f"worst_ssim_delta={min(ssim_deltas):+.4f} worst_vmaf_delta={min(vmaf_deltas):+.2f} "
        f"cpu_vs_peertube={cpu_ours / cpu_theirs:.2f} "
        f"floor_vmaf_vs_peertube_240p={min(floor_vmaf_deltas):+.2f}"
    )


if __name__ == "__main__":
    main()
