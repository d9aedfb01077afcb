"""Playback benchmark: the lesson page in headless Chromium on three links held by CDP
`Network.emulateNetworkConditions`: fast (no limit), 1.5 Mbps / 300 ms and 500 kbps / 500 ms.

Set-up: a throw-away YUANJIAO_HOME, a 60 s 1280x720 camera-like clip (test pattern encoded by
x264 veryfast at 6 Mb/s) transcoded by the real pipeline (`yuanjiao lessons add --wait`) into a
public course, served by `yuanjiao serve` on loopback. Each profile opens the lesson twice in a
fresh browser context (cold cache):

  1. opened and left alone for --idle seconds, never played: first_load_kb is every byte the
     page's first load transferred (HTML, CSS, JS, playlists, poster: CDP encodedDataLength,
     headers included, so compression counts); prefetch_kb the part of it under /media/
     (playlists, poster, and any segment, which there should be none of);
  2. opened, and play pressed as soon as the player is ready, as a viewer does: ttff_s is the
     time from the start of navigation to the first `playing`; stalls_30s the `waiting` events
     after it until the playhead passes 30 s (the 500 kbps profile stops at the first frame
     and reports the rung it played).

Prints one line per profile, then
`ttff_s_1500k=… stalls_30s_1500k=… ttff_s_500k=… prefetch_kb=… first_load_kb=…` (bytes from
the 1.5 Mbps profile) and each as a ratio to the fast profile of the same run. Targets: ttff
≤ 6 s at 1.5 Mbps, 0 stalls, prefetch ≤ 300 KB, first load ≤ 400 KB.

    .venv/bin/python bench/playback.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.media lives in the checkout
from playwright.sync_api import Browser, CDPSession, Page, sync_playwright  # noqa: E402

from bench.delivery import make_course_public  # noqa: E402
from bench.harness import free_port, run_cli, scratch_home, start_app, stop  # noqa: E402
from tests.media import make_clip  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
COURSE_TITLE = "播放基准课程"
CLIP_SECONDS = 60
STALL_WINDOW_S = 30
KB = 1000


@dataclass(frozen=True)
class Profile:
    name: str
    kbps: int | None  # None: no limit
    rtt_ms: int
    watch_s: float  # play until the playhead passes this (0: stop at the first frame)

    def conditions(self) -> dict[str, Any]:
        """CDP Network.emulateNetworkConditions parameters (throughput in bytes per second)."""
        rate = -1 if self.kbps is None else self.kbps * 1000 / 8
        return {
            "offline": False,
            "latency": self.rtt_ms,
            "downloadThroughput": rate,
            "uploadThroughput": rate,
        }


PROFILES = [
    Profile("fast", None, 0, STALL_WINDOW_S),
    Profile("1500k", 1500, 300, STALL_WINDOW_S),
    Profile("500k", 500, 500, 0),
]


@dataclass
class Transfers:
    """Bytes on the wire per URL, from CDP's Network.loadingFinished."""

    urls: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def attach(self, cdp: CDPSession) -> None:
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.loadingFinished", self._finished)

    def _sent(self, event: dict[str, Any]) -> None:
        self.urls[event["requestId"]] = event["request"]["url"]

    def _finished(self, event: dict[str, Any]) -> None:
        url = self.urls.get(event["requestId"], "")
        self.sizes[url] = self.sizes.get(url, 0) + int(event["encodedDataLength"])

    def total(self, part: str = "") -> int:
        return sum(size for url, size in self.sizes.items() if part in url)


@dataclass
class Result:
    ttff_s: float
    stalls: int
    rung: str
    first_load_kb: float
    prefetch_kb: float
    segments_before_play: int


def open_page(browser: Browser, profile: Profile) -> tuple[Page, Transfers]:
    """A fresh context (cold cache) whose page's network is held to the profile."""
    context = browser.new_context(viewport={"width": 1280, "height": 720}, locale="zh-CN")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    transfers = Transfers()
    transfers.attach(cdp)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", profile.conditions())
    return page, transfers


def measure(browser: Browser, url: str, profile: Profile, idle_s: float) -> Result:
    """Both visits of one profile (see the module docstring)."""
    page, transfers = open_page(browser, profile)
    page.goto(url, wait_until="load", timeout=120_000)
    page.wait_for_function(
        "() => window.yuanjiaoPlayer && window.yuanjiaoPlayer.hls.levels.length > 0",
        timeout=60_000,
    )
    page.wait_for_timeout(idle_s * 1000)
    first_load = transfers.total()
    prefetch = transfers.total("/media/")
    segments = sum(
        1 for u in transfers.sizes if "/hls/" in u and not u.split("?")[0].endswith(".m3u8")
    )
    page.context.close()

    page, transfers = open_page(browser, profile)
    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_function("() => window.yuanjiaoPlayer !== undefined", timeout=120_000)
    page.evaluate(
        """(window_s) => {
        const { video } = window.yuanjiaoPlayer;
        window.watch = { firstFrame: null, stalls: 0 };
        video.addEventListener("playing", () => {
            if (window.watch.firstFrame === null) window.watch.firstFrame = performance.now();
        });
        video.addEventListener("waiting", () => {
            const watched = window.watch.firstFrame !== null;
            if (watched && video.currentTime < window_s) window.watch.stalls += 1;
        });
        video.muted = true;
    }""",
        STALL_WINDOW_S,
    )
    page.locator("#play").click()
    page.wait_for_function("() => window.watch.firstFrame !== null", timeout=120_000)
    if profile.watch_s:
        page.wait_for_function(
            f"() => window.yuanjiaoPlayer.video.currentTime >= {profile.watch_s}",
            timeout=(profile.watch_s * 4 + 30) * 1000,
        )
    watch = page.evaluate("window.watch")
    rung = page.evaluate(
        """() => { const hls = window.yuanjiaoPlayer.hls;
        const level = hls.levels[hls.currentLevel];
        const heights = hls.levels.map((l) => l.height).join("/");
        return level ? `${level.height}p of ${heights}` : "?"; }"""
    )
    page.context.close()
    return Result(
        ttff_s=watch["firstFrame"] / 1000,
        stalls=watch["stalls"],
        rung=rung,
        first_load_kb=first_load / KB,
        prefetch_kb=prefetch / KB,
        segments_before_play=segments,
    )


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}" if baseline else "n/a"


def run(home: Path, idle_s: float) -> int:
    """Set up in `home`, serve, measure each profile, print the figures and ratios last."""
    env = dict(os.environ)
    app = None
    try:
        started = time.monotonic()
        run_cli(env, home, "db", "upgrade")
        org_id = run_cli(env, home, "orgs", "add", "基准区委", "--kind", "district")
        run_cli(env, home, "users", "add", "bench", "--role", "platform_admin", "--org", org_id,
                "--password", "bench-password-1")  # fmt: skip
        clip = make_clip(home / "clip.mp4", seconds=CLIP_SECONDS, width=1280, height=720,
                         video_bitrate="6M", preset="veryfast")  # fmt: skip
        lesson_id = run_cli(env, home, "lessons", "add", str(clip), "--course", COURSE_TITLE,
                            "--title", "田间管理", "--org", org_id, "--wait")  # fmt: skip
        make_course_public(COURSE_TITLE)
        print(
            f"set-up {time.monotonic() - started:.0f} s:"
            f" lesson {lesson_id}, {CLIP_SECONDS} s 1280x720"
        )
        port = free_port()
        app = start_app(env, home, port, home / "app.log")
        url = f"http://127.0.0.1:{port}/lessons/{lesson_id}"
        results: dict[str, Result] = {}
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for profile in PROFILES:
                    result = measure(browser, url, profile, idle_s)
                    results[profile.name] = result
                    print(
                        f"{profile.name}: ttff {result.ttff_s:.2f} s, stalls {result.stalls},"
                        f" rung {result.rung}, first load {result.first_load_kb:.0f} KB,"
                        f" media before play {result.prefetch_kb:.0f} KB"
                        f" ({result.segments_before_play} segments)",
                        flush=True,
                    )
            finally:
                browser.close()
    finally:
        stop(app)
    fast, rural, weak = results["fast"], results["1500k"], results["500k"]
    print(
        f"ttff_s_1500k={rural.ttff_s:.2f} stalls_30s_1500k={rural.stalls}"
        f" ttff_s_500k={weak.ttff_s:.2f} prefetch_kb={rural.prefetch_kb:.0f}"
        f" first_load_kb={rural.first_load_kb:.0f}"
    )
    print(
        f"ttff_1500k_vs_fast={ratio(rural.ttff_s, fast.ttff_s)}"
        f" ttff_500k_vs_fast={ratio(weak.ttff_s, fast.ttff_s)}"
        f" stalls_30s_fast={fast.stalls}"
        f" prefetch_vs_fast={ratio(rural.prefetch_kb, fast.prefetch_kb)}"
        f" first_load_vs_fast={ratio(rural.first_load_kb, fast.first_load_kb)}"
    )
    met = (
        rural.ttff_s <= 6
        and rural.stalls == 0
        and rural.prefetch_kb <= 300
        and rural.first_load_kb <= 400
    )
    print("targets: " + ("met" if met else "NOT met"))
    return 0


def main() -> int:
    """Parse the arguments and run in a throw-away home on the embedded engines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--idle", type=float, default=3.0, help="seconds the unplayed page is left open"
    )
    args = parser.parse_args()
    for name in ("YUANJIAO_DATABASE_URL", "YUANJIAO_STORAGE_URL", "YUANJIAO_QUEUE_URL"):
        os.environ.pop(name, None)
    with scratch_home("yuanjiao-bench-playback-") as home:
        return run(home, args.idle)


if __name__ == "__main__":
    sys.exit(main())
