"""The transcode pipeline: ladder rules (pure, with Hypothesis) and real ffmpeg on tiny clips."""

import io
import os
import re
import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.i18n import gettext
from core.jobs import is_temporary
from core.media import ffmpeg_exe
from courseware.transcode.command import build_command
from courseware.transcode.errors import REASONS, MediaError, TranscodeCancelled
from courseware.transcode.ladder import (
    DEFAULT_HEIGHTS,
    FLOOR_HEIGHT,
    FLOOR_PEAK,
    SEGMENT_SECONDS,
    Rung,
    h264_level,
    output_frame_rate,
    plan_ladder,
    planned_peak,
)
from courseware.transcode.probe import MediaInfo, probe_media
from courseware.transcode.runner import START_PEAK, TranscodeResult, _run_ffmpeg, transcode
from tests.media import make_audio, make_clip, make_not_media

pytestmark = pytest.mark.engine_neutral


def _info(width: int, height: int, **changes: object) -> MediaInfo:
    """A MediaInfo for a 30 fps landscape or portrait source with audio, for the pure tests."""
    fields: dict[str, object] = dict(
        duration=60.0,
        width=width,
        height=height,
        rotation=0,
        has_video=True,
        has_audio=True,
        fps=30.0,
        video_codec="h264",
        pix_fmt="yuv420p",
        bit_depth=8,
        audio_codec="aac",
        audio_rate=48000,
        audio_channels=2,
        bit_rate=None,
        video_stream=0,
        audio_stream=1,
    )
    fields.update(changes)
    return MediaInfo(**fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- ladder (pure)


@given(
    width=st.integers(2, 4096),
    height=st.integers(2, 4096),
    fps=st.floats(0, 240),
    audio=st.booleans(),
    bit_rate=st.none() | st.integers(10_000, 50_000_000),
    heights=st.lists(st.integers(100, 2160), min_size=1, max_size=5).map(tuple),
)
def test_ladder_rules_hold_for_any_source(
    width: int, height: int, fps: float, audio: bool, bit_rate: int | None, heights: tuple[int, ...]
) -> None:
    info = _info(
        width,
        height,
        fps=fps,
        bit_rate=bit_rate,
        has_audio=audio,
        audio_stream=1 if audio else None,
    )
    rungs = plan_ladder(info, heights)
    short, long = sorted((width, height))
    assert rungs
    assert len({r.name for r in rungs}) == len(rungs)
    for rung in rungs:
        assert rung.width % 2 == 0 and rung.height % 2 == 0 and rung.width > 0
        assert rung.short_side <= short and max(rung.width, rung.height) <= long
        assert (rung.height > rung.width) == (height > width) or rung.width == rung.height
        assert rung.name == f"{rung.short_side}p"
        assert 0 < rung.maxrate <= rung.bufsize and 0 < rung.crf <= 51
        assert rung.bandwidth == planned_peak(rung.maxrate, rung.bufsize, rung.audio_bitrate) > 0
        if rung.short_side <= FLOOR_HEIGHT:
            assert rung.bandwidth < FLOOR_PEAK and rung.preset == "medium"
        assert rung.frame_rate == rungs[0].frame_rate <= 60
        assert ("mp4a.40.2" in rung.codecs) == audio
        assert rung.codecs.startswith(f"avc1.6400{rung.level:02x}")
        if rung.width > 16 and rung.height > 16:
            assert abs(rung.width / rung.height - width / height) < 0.05 * width / height + 0.1
    sizes = [(r.height, r.width) for r in rungs]
    assert sizes == sorted(sizes, reverse=True)
    made = {r.short_side for r in rungs}
    wanted = {h - h % 2 for h in heights if h <= short}
    assert made == (wanted or {short - short % 2})


def test_landscape_1080p_ladder_and_levels() -> None:
    rungs = plan_ladder(_info(1920, 1080))
    assert [(r.name, r.width, r.height) for r in rungs] == [
        ("1080p", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
        ("240p", 426, 240),
    ]
    # PeerTube's average bits-per-pixel table at 30 fps caps 720p at 3.04 Mb/s, buffer twice that.
    assert (rungs[1].maxrate, rungs[1].bufsize) == (3_041_000, 6_082_000)
    assert [r.codecs for r in rungs] == [
        "avc1.640028,mp4a.40.2",
        "avc1.64001f,mp4a.40.2",
        "avc1.64001f,mp4a.40.2",  # 854x480 at 30 fps is 48,600 macroblocks/s: over level 3.0
        "avc1.64001e,mp4a.40.2",
        "avc1.64001e,mp4a.40.2",
    ]
    assert [r.audio_bitrate for r in rungs] == [128_000, 128_000, 128_000, 96_000, 48_000]
    # The floor: a full 2 s segment carries at most 161 kb/s + 161 kbit of video, plus audio.
    floor = rungs[-1]
    assert (floor.maxrate, floor.bufsize, floor.bandwidth) == (161_000, 161_000, 289_500)


def test_portrait_phone_video_keeps_its_short_side_on_every_rung() -> None:
    rungs = plan_ladder(_info(1080, 1920, rotation=90))
    assert [(r.name, r.width, r.height) for r in rungs] == [
        ("1080p", 1080, 1920),
        ("720p", 720, 1280),
        ("480p", 480, 854),
        ("360p", 360, 640),
        ("240p", 240, 426),
    ]


def test_source_below_every_rung_gets_one_rung_at_its_even_size() -> None:
    assert [(r.name, r.width, r.height) for r in plan_ladder(_info(320, 180))] == [
        ("180p", 320, 180)
    ]
    assert [(r.width, r.height) for r in plan_ladder(_info(321, 181))] == [(320, 180)]
    assert [r.name for r in plan_ladder(_info(1000, 500))] == ["480p", "360p", "240p"]


def test_thin_source_caps_the_rate() -> None:
    rich, thin = plan_ladder(_info(1280, 720)), plan_ladder(_info(1280, 720, bit_rate=1_000_000))
    assert thin[0].maxrate == 1_300_000 < rich[0].maxrate and thin[0].bufsize == 2_600_000
    assert thin[0].crf == rich[0].crf
    bare = plan_ladder(_info(1280, 720, bit_rate=1000))
    assert bare[0].maxrate == round(1280 * 720 * 30 * 0.02, -3)
    # The floor rung keeps the lower of its two caps: the peak budget, or the thin source's.
    assert thin[-1].maxrate == rich[-1].maxrate == 161_000
    assert bare[-1].maxrate == round(426 * 240 * 30 * 0.02, -3) < 161_000


def test_audio_only_source_gets_one_audio_rendition() -> None:
    info = _info(0, 0, has_video=False, video_stream=None, fps=0.0, audio_stream=0)
    [rung] = plan_ladder(info)
    assert (rung.name, rung.width, rung.height, rung.codecs) == ("audio", 0, 0, "mp4a.40.2")
    assert rung.bandwidth == rung.audio_bitrate > 0 and not rung.has_video


@pytest.mark.parametrize(
    ("fps", "rate"),
    [
        (25.0, Fraction(25)),
        (29.97, Fraction(30000, 1001)),
        (29.3, Fraction(30000, 1001)),
        (23.9, Fraction(24000, 1001)),
        (17.0, Fraction(17)),
        (120.0, Fraction(60)),
        (0.0, Fraction(25)),
        (0.3, Fraction(1)),
    ],
)
def test_output_frame_rate(fps: float, rate: Fraction) -> None:
    assert output_frame_rate(fps) == rate


def test_level_follows_frame_size_rate_and_bitrate() -> None:
    assert h264_level(width=640, height=360, fps=30, maxrate=1_000_000, bufsize=2_000_000) == 30
    assert h264_level(width=1280, height=720, fps=60, maxrate=9_000_000, bufsize=18_000_000) == 32
    assert h264_level(width=1920, height=1080, fps=60, maxrate=20_000_000, bufsize=40_000_000) == 42


def test_rung_refuses_odd_sizes_bad_rate_control_and_a_wrong_peak() -> None:
    def rung(**changes: object) -> Rung:
        fields: dict[str, object] = dict(
            name="180p",
            width=320,
            height=180,
            frame_rate=Fraction(25),
            crf=24,
            preset="veryfast",
            maxrate=2000,
            bufsize=4000,
            audio_bitrate=0,
            level=30,
            bandwidth=4000,
            codecs="avc1.64001e",
        )
        fields.update(changes)
        return Rung(**fields)  # type: ignore[arg-type]

    assert rung().bandwidth == 4000
    with pytest.raises(ValueError, match="even"):
        rung(name="181p", width=321, height=181)
    with pytest.raises(ValueError, match="crf"):
        rung(crf=52)
    with pytest.raises(ValueError, match="preset"):
        rung(preset="placebo ")
    with pytest.raises(ValueError, match="maxrate <= bufsize"):
        rung(maxrate=5000, bandwidth=7000)
    with pytest.raises(ValueError, match="bandwidth"):
        rung(bandwidth=2000)


def test_command_decodes_once_and_aligns_keyframes(tmp_path: Path) -> None:
    info = _info(1920, 1080, fps=29.97)
    rungs = plan_ladder(info, (720, 480, 360))
    args = build_command(
        source=tmp_path / "in.mp4", out_dir=tmp_path / "out", info=info, rungs=rungs
    )
    assert args.count("-i") == 1
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[0:0]fps=30000/1001,") and graph.count("[0:") == 2
    assert ",format=yuv420p,split=3[" in graph and "asplit=3" in graph
    assert "scale=1280:720" in graph and "scale=854:480" in graph and "scale=640:360" in graph
    assert args[args.index("-g") + 1] == args[args.index("-keyint_min") + 1] == "60"
    assert args[args.index("-sc_threshold") + 1] == "0"
    # Quality-targeted rate control: a CRF and a VBV cap per rung, never an average bitrate.
    assert [args[args.index(f"-crf:v:{i}") + 1] for i in range(3)] == ["24"] * 3
    assert [args[args.index(f"-preset:v:{i}") + 1] for i in range(3)] == ["veryfast"] * 3
    floor = plan_ladder(info, (720, 240))
    args_floor = build_command(
        source=tmp_path / "in.mp4", out_dir=tmp_path / "out", info=info, rungs=floor
    )
    assert args_floor[args_floor.index("-preset:v:1") + 1] == "medium"
    assert args_floor[args_floor.index("-maxrate:v:1") + 1] == "161000"
    assert args[args.index("-maxrate:v:1") + 1] == str(rungs[1].maxrate)
    assert args[args.index("-bufsize:v:1") + 1] == str(2 * rungs[1].maxrate)
    assert not [a for a in args if a.startswith("-b:v")]
    assert args[args.index("-bf") + 1] == "16" and args[args.index("-b_strategy") + 1] == "1"
    assert args[args.index("-hls_time") + 1] == str(SEGMENT_SECONDS) == "2"
    assert args[args.index("-var_stream_map") + 1] == (
        "v:0,a:0,name:720p v:1,a:1,name:480p v:2,a:2,name:360p"
    )
    assert args[args.index("-level:v:0") + 1] == "3.1"
    assert "-master_pl_name" not in args and args[-1].endswith("%v/index.m3u8")
    with_poster = build_command(
        source=tmp_path / "in.mp4",
        out_dir=tmp_path / "out",
        info=info,
        rungs=rungs,
        poster=tmp_path / "out" / "poster.jpg",
    )
    graph = with_poster[with_poster.index("-filter_complex") + 1]
    assert "split=4[" in graph and "[s3]trim=start=6.000,scale=720:404,setsar=1[poster]" in graph
    assert with_poster[-1] == str(tmp_path / "out" / "poster.jpg") and with_poster.count("-i") == 1
    with pytest.raises(ValueError, match="%"):
        build_command(source=tmp_path / "in.mp4", out_dir=tmp_path / "5%", info=info, rungs=rungs)


# ---------------------------------------------------------------- real ffmpeg


def _playlist(path: Path) -> tuple[list[float], list[str], dict[str, str]]:
    """EXTINF durations, URIs and the EXT-X-MAP URI of a media playlist."""
    text = path.read_text()
    pairs = re.findall(r"#EXTINF:([0-9.]+),\s*\n(\S+)", text)
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)
    assert init is not None and "#EXT-X-ENDLIST" in text
    return [float(d) for d, _ in pairs], [u for _, u in pairs], {"init": init.group(1)}


def _master(path: Path) -> list[tuple[dict[str, str], str]]:
    """(attributes, URI) for every EXT-X-STREAM-INF of a master playlist."""
    lines = path.read_text().splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    variants = []
    for line, uri in zip(lines, lines[1:], strict=False):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attributes = dict(
                re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.removeprefix("#EXT-X-STREAM-INF:"))
            )
            variants.append(({k: v.strip('"') for k, v in attributes.items()}, uri))
    return variants


def _open(data: bytes) -> av.container.InputContainer:
    """Open in-memory MP4 bytes for reading."""
    container = av.open(io.BytesIO(data))
    assert isinstance(container, av.container.InputContainer)
    return container


def _rendition(rung_dir: Path) -> av.container.InputContainer:
    """Open a rung as one fragmented MP4: its init section followed by all its segments."""
    _, uris, meta = _playlist(rung_dir / "index.m3u8")
    return _open(b"".join((rung_dir / name).read_bytes() for name in [meta["init"], *uris]))


def _video_frames(rung_dir: Path) -> list[av.VideoFrame]:
    """Decode every picture of a rung (it plays start to end)."""
    with _rendition(rung_dir) as container:
        return list(container.decode(video=0))


def _check_tree(result: TranscodeResult, out: Path) -> None:
    """The files exist, the master is last, and every rung's init is named init.mp4."""
    assert result.files[-1] == Path("master.m3u8") and result.master == out / "master.m3u8"
    assert all((out / f).is_file() for f in result.files)
    for rung in result.rungs:
        _, uris, meta = _playlist(out / rung.name / "index.m3u8")
        assert meta["init"] == "init.mp4" and uris[0] == "seg_00001.m4s"
        assert result.files.index(Path(rung.name, "index.m3u8")) > result.files.index(
            Path(rung.name, uris[-1])
        )


def _our_ffmpeg_children() -> set[int]:
    """PIDs of ffmpeg processes whose parent is this test process."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent == os.getpid() and comm.startswith("ffmpeg"):
            found.add(int(entry.name))
    return found


@pytest.fixture(scope="module")
def ladder_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of 854x480 at 30 fps: three 2 s segments at 480p (level 3.1), 360p and 240p (3.0)."""
    clips = tmp_path_factory.mktemp("clips")
    return make_clip(clips / "480.mp4", seconds=6, width=854, height=480, fps=30)


@pytest.fixture(scope="module")
def grainy_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of 854x480 at 30 fps under heavy moving grain: every rung runs into its cap."""
    path = tmp_path_factory.mktemp("grain") / "grain.mp4"
    picture = "testsrc2=size=854x480:rate=30:duration=6,noise=alls=40:allf=t+u"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", picture, "-f", "lavfi"]
        + ["-i", "sine=duration=6", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10"]
        + ["-c:a", "aac", str(path)],
        check=True,
        timeout=120,
    )
    return path


def _starting_order(variants: list[tuple[dict[str, str], str]]) -> list[str]:
    """The URIs in the order the master should list them, from the BANDWIDTHs it states: the
    largest rung peaking at START_PEAK or less (else the lowest) first, then the rest, largest
    first."""
    by_size = sorted(variants, key=lambda v: -int(v[0]["RESOLUTION"].split("x")[1]))
    fitting = [v for v in by_size if int(v[0]["BANDWIDTH"]) <= START_PEAK]
    first = max(fitting, key=lambda v: int(v[0]["BANDWIDTH"])) if fitting else by_size[-1]
    return [first[1], *(uri for _, uri in by_size if uri != first[1])]


def _keyframe_times(rung_dir: Path) -> list[float]:
    """Presentation times, in seconds from the first picture, of a rung's keyframes."""
    with _rendition(rung_dir) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size and p.pts is not None]
    assert stream.time_base is not None
    start = min(p.pts or 0 for p in packets)
    return [float(((p.pts or 0) - start) * stream.time_base) for p in packets if p.is_keyframe]


def test_small_landscape_clip_gives_one_rung_and_a_poster(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "small.mp4", seconds=2)
    result = transcode(source=source, out_dir=tmp_path / "out")
    assert [(r.name, r.width, r.height) for r in result.rungs] == [("180p", 320, 180)]
    _check_tree(result, tmp_path / "out")
    assert result.poster == tmp_path / "out" / "poster.jpg"
    with av.open(str(result.poster)) as poster:
        frame = next(poster.decode(video=0))
        assert (frame.width, frame.height) == (320, 180)


def test_640x360_gives_360p_and_the_floor(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "360.mp4", seconds=2, width=640, height=360, fps=10)
    result = transcode(source=source, out_dir=tmp_path / "out")
    assert [r.name for r in result.rungs] == ["360p", "240p"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "240p",
        "360p",
        "master.m3u8",
        "poster.jpg",
    ]


def test_ladder_is_keyframe_aligned_with_progress_and_a_true_master(
    ladder_clip: Path, tmp_path: Path
) -> None:
    progress: list[float] = []
    out = tmp_path / "out"
    result = transcode(source=ladder_clip, out_dir=out, on_progress=progress.append)
    assert [(r.name, r.width, r.height, r.level) for r in result.rungs] == [
        ("480p", 854, 480, 31),
        ("360p", 640, 360, 30),
        ("240p", 428, 240, 30),
    ]
    _check_tree(result, out)

    # 2 s segments, the same on every rung, each opening on a keyframe; keyframes every 2 s and
    # nowhere else (no scene-cut keyframes), at the same times on every rung.
    durations = [_playlist(out / r.name / "index.m3u8")[0] for r in result.rungs]
    assert durations == [[2.0, 2.0, 2.0]] * 3
    assert [_keyframe_times(out / r.name) for r in result.rungs] == [[0.0, 2.0, 4.0]] * 3
    for rung in result.rungs:
        _, uris, meta = _playlist(out / rung.name / "index.m3u8")
        init = (out / rung.name / meta["init"]).read_bytes()
        for uri in uris:
            data = init + (out / rung.name / uri).read_bytes()
            with _open(data) as segment:
                first = next(p for p in segment.demux(video=0) if p.size)
                assert first.is_keyframe, f"{rung.name}/{uri} does not start on a keyframe"

    assert len(progress) >= 3 and progress[-1] == 1.0
    assert progress == sorted(progress) and len(set(progress)) == len(progress)

    variants = _master(result.master)
    assert [uri for _, uri in variants] == _starting_order(variants)
    stated = {uri.split("/")[0]: attributes for attributes, uri in variants}
    for rung in result.rungs:
        attributes = stated[rung.name]
        rung_dir = out / rung.name
        frames = _video_frames(rung_dir)
        assert attributes["RESOLUTION"] == f"{frames[0].width}x{frames[0].height}"
        assert attributes["FRAME-RATE"] == "30.000" and len(frames) == 180
        avcc = (rung_dir / "init.mp4").read_bytes()
        avcc = avcc[avcc.index(b"avcC") + 5 :][:3]
        assert attributes["CODECS"] == f"avc1.{avcc.hex()},mp4a.40.2" == rung.codecs
        seconds, uris, _ = _playlist(rung_dir / "index.m3u8")
        rates = [(rung_dir / u).stat().st_size * 8 / s for u, s in zip(uris, seconds, strict=True)]
        assert int(attributes["BANDWIDTH"]) >= max(rates)
        total = sum((rung_dir / u).stat().st_size * 8 for u in uris) / sum(seconds)
        assert int(attributes["AVERAGE-BANDWIDTH"]) == pytest.approx(total, abs=1)
        assert int(attributes["AVERAGE-BANDWIDTH"]) <= int(attributes["BANDWIDTH"])
        assert int(attributes["BANDWIDTH"]) <= 1.5 * rung.bandwidth
    assert int(stated["480p"]["BANDWIDTH"]) > int(stated["360p"]["BANDWIDTH"])


def test_floor_peaks_under_300_kbps_and_the_master_does_not_start_on_top(
    grainy_clip: Path, tmp_path: Path
) -> None:
    result = transcode(source=grainy_clip, out_dir=tmp_path / "out")
    variants = _master(result.master)
    stated = {uri.split("/")[0]: attributes for attributes, uri in variants}
    assert set(stated) == {"480p", "360p", "240p"} and result.rungs[-1].name == "240p"
    peaks = {name: int(attributes["BANDWIDTH"]) for name, attributes in stated.items()}
    # Grain this heavy fills every cap: the top rung is beyond a village link ...
    assert peaks["480p"] > START_PEAK
    # ... the floor stays under 300 kb/s, video and audio together, as measured on its segments,
    assert peaks["240p"] <= FLOOR_PEAK
    for attributes in stated.values():
        assert 0 < int(attributes["AVERAGE-BANDWIDTH"]) <= int(attributes["BANDWIDTH"])
    # ... and a player that takes the first variant listed starts on the largest one that fits.
    assert [uri for _, uri in variants] == _starting_order(variants)
    assert variants[0][1] != "480p/index.m3u8"
    assert result.bandwidths == peaks


def test_rotated_phone_video_comes_out_portrait(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "phone.mp4", seconds=2, width=480, height=270, rotate=90)
    info = probe_media(source)
    assert (info.width, info.height, info.rotation) == (270, 480, 90)
    result = transcode(source=source, out_dir=tmp_path / "out")
    # The 240p floor is the one rung at or below its short side, portrait like the source.
    assert [(r.name, r.width, r.height) for r in result.rungs] == [("240p", 240, 426)]
    frame = _video_frames(tmp_path / "out" / "240p")[0]
    assert (frame.width, frame.height, frame.rotation) == (240, 426, 0)
    assert result.poster is not None
    with av.open(str(result.poster)) as poster:
        still = next(poster.decode(video=0))
        assert (still.width, still.height) == (270, 480)


def test_odd_sized_444_source_becomes_even_420(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "odd.mp4", seconds=2, width=321, height=181, pix_fmt="yuv444p")
    result = transcode(source=source, out_dir=tmp_path / "out")
    frame = _video_frames(tmp_path / "out" / "180p")[0]
    assert (frame.width, frame.height, frame.format.name) == (320, 180, "yuv420p")
    assert result.rungs[0].name == "180p"


def test_variable_frame_rate_comes_out_constant(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "vfr.mp4", seconds=3, vfr=True)
    with av.open(str(source)) as container:
        pts = [frame.pts or 0 for frame in container.decode(video=0)]
    assert len({b - a for a, b in zip(pts, pts[1:], strict=False)}) > 1, "the source is not VFR"
    result = transcode(source=source, out_dir=tmp_path / "out")
    assert result.rungs[0].frame_rate == 17 == round(result.info.fps)
    frames = _video_frames(tmp_path / "out" / "180p")
    steps = {(b.pts or 0) - (a.pts or 0) for a, b in zip(frames, frames[1:], strict=False)}
    time_base = frames[0].time_base
    assert len(steps) == 1 and time_base is not None
    assert steps.pop() * time_base == pytest.approx(1 / 17)


def test_picture_is_held_while_the_sound_goes_on(tmp_path: Path) -> None:
    source = tmp_path / "camera-stopped.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:duration=1"]
        + ["-f", "lavfi", "-i", "sine=duration=6", "-c:v", "libx264", "-preset", "ultrafast"]
        + ["-c:a", "aac", str(source)],
        check=True,
    )
    result = transcode(source=source, out_dir=tmp_path / "out")
    seconds, _, _ = _playlist(tmp_path / "out" / "180p" / "index.m3u8")
    assert sum(seconds) == pytest.approx(6, abs=0.1) and result.poster is not None
    assert len(_video_frames(tmp_path / "out" / "180p")) == pytest.approx(150, abs=2)


@pytest.mark.parametrize(
    ("codec", "name"), [("libx264", "h264"), ("libx265", "hevc")], ids=["h264-10bit", "hevc-10bit"]
)
def test_ten_bit_sources_become_8_bit_h264(tmp_path: Path, codec: str, name: str) -> None:
    source = make_clip(tmp_path / "deep.mp4", seconds=2, codec=codec, pix_fmt="yuv420p10le")
    info = probe_media(source)
    assert (info.video_codec, info.bit_depth) == (name, 10)
    transcode(source=source, out_dir=tmp_path / "out")
    with _rendition(tmp_path / "out" / "180p") as rendition:
        stream = rendition.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.profile) == ("h264", "High")
        assert next(rendition.decode(stream)).format.name == "yuv420p"


def test_mono_22khz_audio_becomes_stereo_48khz(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "mono.mp4", seconds=2, channels=1, audio_rate=22050)
    transcode(source=source, out_dir=tmp_path / "out")
    with _rendition(tmp_path / "out" / "180p") as rendition:
        audio = rendition.streams.audio[0]
        assert (audio.codec_context.name, audio.sample_rate, audio.channels) == ("aac", 48000, 2)
        assert sum(f.samples for f in rendition.decode(audio)) >= 2 * 48000 * 0.95


def test_video_without_audio_has_no_audio_codec_and_plays(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "silent.mp4", seconds=2, audio=False)
    result = transcode(source=source, out_dir=tmp_path / "out")
    [(attributes, _)] = _master(result.master)
    assert attributes["CODECS"] == "avc1.64001e" and result.rungs[0].audio_bitrate == 0
    with _rendition(tmp_path / "out" / "180p") as rendition:
        assert [s.type for s in rendition.streams] == ["video"]
    assert len(_video_frames(tmp_path / "out" / "180p")) == 50


@pytest.mark.parametrize("name", ["talk.m4a", "talk-with-cover.mp3"])
def test_audio_only_source_gives_an_audio_rendition(tmp_path: Path, name: str) -> None:
    source = make_audio(tmp_path / name, 2, channels=1, cover="cover" in name)
    result = transcode(source=source, out_dir=tmp_path / "out")
    assert [r.name for r in result.rungs] == ["audio"] and result.poster is None
    assert not (tmp_path / "out" / "poster.jpg").exists()
    _check_tree(result, tmp_path / "out")
    [(attributes, uri)] = _master(result.master)
    assert uri == "audio/index.m3u8" and attributes["CODECS"] == "mp4a.40.2"
    assert "RESOLUTION" not in attributes and int(attributes["BANDWIDTH"]) > 0
    with _rendition(tmp_path / "out" / "audio") as rendition:
        assert [s.type for s in rendition.streams] == ["audio"]
        assert (rendition.streams.audio[0].sample_rate, rendition.streams.audio[0].channels) == (
            48000,
            2,
        )


def _zero_streams(path: Path) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2", "-frames:v", "0", str(path)],
        check=True,
    )
    return path


def _zero_duration(path: Path) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine", "-t", "0", str(path)], check=True
    )
    return path


def _photo(path: Path) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2", "-frames:v", "1", str(path)],
        check=True,
    )
    return path


def _cut(path: Path, *, faststart: bool) -> Path:
    """An upload cut in half: without its index (moov last) or without its media (moov first)."""
    whole = make_clip(path.with_name("whole.mp4"), seconds=4)
    if faststart:
        moved = path.with_name("faststart.mp4")
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-i", str(whole), "-c", "copy"]
            + ["-movflags", "+faststart", str(moved)],
            check=True,
        )
        whole = moved
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (make_not_media, "not_media"),
        (_photo, "image"),
        (_zero_streams, "no_streams"),
        (_zero_duration, "zero_duration"),
        (lambda p: _cut(p, faststart=False), "truncated"),
        (lambda p: _cut(p, faststart=True), "truncated"),
    ],
    ids=["text", "photo", "no-streams", "zero-duration", "cut-index", "cut-media"],
)
def test_unusable_sources_fail_with_a_reason(tmp_path: Path, make: object, code: str) -> None:
    suffix = {"image": ".jpg", "zero_duration": ".wav"}.get(code, ".mp4")
    source = make(tmp_path / f"bad{suffix}")  # type: ignore[operator]
    with pytest.raises(MediaError) as failure:
        transcode(source=source, out_dir=tmp_path / "out")
    assert failure.value.code == code and failure.value.reason == REASONS[code]
    assert str(failure.value) == REASONS[code] and failure.value.detail
    assert not is_temporary(failure.value)  # a bad source is not tried again
    assert not (tmp_path / "out" / "master.m3u8").exists()


def test_every_failure_reason_is_distinct_and_translated() -> None:
    assert len(set(REASONS.values())) == len(REASONS)
    assert all(gettext("zh_CN", reason) != reason for reason in REASONS.values())


def test_ffmpeg_failure_carries_its_stderr_tail(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as failure:
        _run_ffmpeg(
            [ffmpeg_exe(), "-hide_banner", "-i", str(tmp_path / "gone.mp4"), "-f", "null", "-"]
        )
    assert failure.value.code == "transcode_failed"
    assert "No such file or directory" in failure.value.detail


def test_cancelling_from_progress_kills_ffmpeg(ladder_clip: Path, tmp_path: Path) -> None:
    running: list[set[int]] = []

    def cancel(fraction: float) -> None:
        running.append(_our_ffmpeg_children())
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        transcode(source=ladder_clip, out_dir=tmp_path / "out", on_progress=cancel)
    assert running[0], "ffmpeg was not running when progress was reported"
    assert _our_ffmpeg_children() == set()
    assert all(not Path(f"/proc/{pid}").exists() for pid in running[0])
    assert not (tmp_path / "out" / "master.m3u8").exists()


def test_timeout_kills_ffmpeg_and_is_temporary(ladder_clip: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError) as failure:
        transcode(source=ladder_clip, out_dir=tmp_path / "out", timeout=0.2)
    assert failure.value.code == "timeout" and is_temporary(failure.value)
    assert _our_ffmpeg_children() == set()


def test_cancel_kills_ffmpeg_at_once(ladder_clip: Path, tmp_path: Path) -> None:
    cancel = threading.Event()
    running: list[set[int]] = []

    def cancel_once(fraction: float) -> None:
        if not cancel.is_set():
            running.append(_our_ffmpeg_children())
            cancel.set()  # as a stopping worker does, from another thread in practice

    started = time.monotonic()
    with pytest.raises(TranscodeCancelled):
        transcode(
            source=ladder_clip, out_dir=tmp_path / "out", on_progress=cancel_once, cancel=cancel
        )
    assert time.monotonic() - started < 5
    assert running[0] and _our_ffmpeg_children() == set()
    assert not (tmp_path / "out" / "master.m3u8").exists()


def test_a_full_disk_fails_temporarily(tmp_path: Path) -> None:
    source = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=5"]
    with pytest.raises(MediaError) as failure:  # /dev/full answers every write with ENOSPC
        _run_ffmpeg([ffmpeg_exe(), "-hide_banner", *source, "-f", "mpegts", "-y", "/dev/full"])
    assert failure.value.code == "disk_full" and is_temporary(failure.value)
    assert failure.value.reason == REASONS["disk_full"]


def test_retry_clears_what_an_earlier_attempt_left(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "small.mp4", seconds=2)
    out = tmp_path / "out"
    (out / "180p").mkdir(parents=True)
    (out / "180p" / "seg_00009.m4s").write_bytes(b"stale")
    (out / "master.m3u8").write_text("#EXTM3U\nstale\n")
    result = transcode(source=source, out_dir=out, heights=DEFAULT_HEIGHTS)
    assert not (out / "180p" / "seg_00009.m4s").exists()
    assert "stale" not in result.master.read_text()


def test_ffmpeg_yields_the_cpu_to_the_web(ladder_clip: Path, tmp_path: Path) -> None:
    """On an all-in-one node the transcode runs at a lower priority than the requests."""
    niceness: list[int] = []

    def look(fraction: float) -> None:
        niceness.extend(os.getpriority(os.PRIO_PROCESS, pid) for pid in _our_ffmpeg_children())
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        transcode(source=ladder_clip, out_dir=tmp_path / "out", on_progress=look)
    assert niceness and set(niceness) == {os.getpriority(os.PRIO_PROCESS, 0) + 10}
