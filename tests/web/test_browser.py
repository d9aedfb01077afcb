"""User flows in headless Chromium against a real `yuanjiao run` server on loopback."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, expect, sync_playwright
from sqlalchemy.orm import Session

from core.people.models import Role
from courseware.models import Visibility
from courseware.service import create_course
from tests.factories import PASSWORD, Tree, make_tree, make_user
from tests.faults import read_only
from tests.media import make_clip
from tests.s3 import free_port

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The all-in-one server (web + in-process worker) on the test database."""
    port = free_port()
    yuanjiao = str(Path(sys.executable).parent / "yuanjiao")
    process = subprocess.Popen(
        [yuanjiao, "run", "--no-demo", "--host", "127.0.0.1", "--port", str(port)],
        env=os.environ.copy(),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
    else:
        process.kill()
        raise AssertionError("server did not become ready")
    yield base
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    yield context.new_page()
    context.close()


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    make_user(session, "member", Role.member, tree.branch)
    make_user(session, "outsider", Role.member, tree.other)
    return tree


def log_in(page: Page, base: str, login: str) -> None:
    page.goto(f"{base}/login")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.get_by_label("登录名").fill(login)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_text("退出")).to_be_visible()


def test_upload_interrupted_then_play_with_quality_switch_and_resume(
    server: str, page: Page, tree: Tree, tmp_path: Path
) -> None:
    clip = make_clip(
        tmp_path / "党课录像.mp4",
        seconds=8,
        width=854,
        height=480,
        video_bitrate="6M",
        preset="veryfast",
    )
    log_in(page, server, "pub")
    page.goto(f"{server}/upload")
    page.get_by_label("新课程名称").fill("浏览器上传课程")
    page.get_by_label("课时名称").fill("第一课：上传测试")
    page.get_by_label("视频或音频文件").set_input_files(str(clip))

    methods: list[str] = []
    dropped: list[str] = []

    def drop_one_chunk(route: Route) -> None:
        """The village line drops in the middle of the second chunk."""
        methods.append(route.request.method)
        if route.request.method == "PATCH" and methods.count("PATCH") == 2 and not dropped:
            dropped.append(route.request.headers["upload-offset"])
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/uploads/**", drop_one_chunk)
    page.get_by_role("button", name="上传课程").click()
    expect(page.locator("#percent")).to_have_text("100%", timeout=60_000)
    expect(page.locator("#done")).to_be_visible(timeout=120_000)
    assert dropped and "HEAD" in methods, methods  # the client asked where to resume
    assert methods.index("HEAD") > methods.index("PATCH")
    assert page.locator("#job-percent").inner_text() == "100%"

    page.get_by_role("link", name="第一课：上传测试").click()
    expect(page.get_by_role("heading", name="第一课：上传测试")).to_be_visible()
    play_past(page, 2.0)
    levels = page.evaluate("window.yuanjiaoPlayer.hls.levels.map(l => l.height)")
    assert sorted(levels) == [360, 480]
    target = 1 - page.evaluate("window.yuanjiaoPlayer.hls.currentLevel")
    page.get_by_label("清晰度").select_option(str(target))
    page.wait_for_function(
        f"window.yuanjiaoPlayer.hls.currentLevel === {target}"
        f" && window.yuanjiaoPlayer.hls.levels[{target}].details !== undefined"
    )
    before = page.evaluate("window.yuanjiaoPlayer.video.currentTime")
    page.wait_for_function(f"window.yuanjiaoPlayer.video.currentTime > {before + 1}")

    page.evaluate("window.yuanjiaoPlayer.video.pause()")
    stopped_at = page.evaluate("window.yuanjiaoPlayer.video.currentTime")
    page.wait_for_timeout(800)
    page.reload()
    expect(page.get_by_text("已从上次观看处继续播放。")).to_be_visible()
    page.wait_for_function("window.yuanjiaoPlayer && window.yuanjiaoPlayer.video.currentTime > 0")
    resumed = page.evaluate("window.yuanjiaoPlayer.video.currentTime")
    assert abs(resumed - int(stopped_at)) < 1.5, (resumed, stopped_at)

    page.get_by_label("学时").fill("1.5")  # the publisher corrects the credit by hand
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("1.5 学时")).to_be_visible()


def play_past(page: Page, seconds: float) -> None:
    """Start the video muted (as autoplay rules allow) and wait until it has really played."""
    page.wait_for_function("window.yuanjiaoPlayer !== undefined")
    page.evaluate("window.yuanjiaoPlayer.video.muted = true; window.yuanjiaoPlayer.video.play()")
    page.wait_for_function(f"window.yuanjiaoPlayer.video.currentTime > {seconds}", timeout=30_000)


def test_member_outside_the_subtree_is_refused(
    server: str, page: Page, tree: Tree, session: Session, tmp_path: Path
) -> None:
    publisher = make_user(session, "pub2", Role.publisher, tree.branch)
    course = create_course(
        session=session,
        user=publisher,
        title="支部内部课程",
        org_id=tree.branch.id,
        visibility=Visibility.org,
    )
    session.commit()
    log_in(page, server, "outsider")
    page.goto(server)
    expect(page.get_by_text("没有找到课程。")).to_be_visible()
    response = page.goto(f"{server}/courses/{course.id}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("不存在")

    log_in(page, server, "member")
    page.goto(server)
    expect(page.get_by_role("heading", name="支部内部课程")).to_be_visible()


def test_english_interface(server: str, page: Page, tree: Tree) -> None:
    page.goto(f"{server}/login")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.goto(server)
    expect(page.get_by_text("No courses found.")).to_be_visible()


def test_an_upload_the_server_could_not_store_is_completed_when_it_can(
    server: str, page: Page, tree: Tree, tmp_path: Path, home: Path
) -> None:
    """The store refuses writes when the last byte arrives (made read-only for real): the
    browser keeps the upload, asks for its lesson until the store is back, and gets it."""
    clip = make_clip(tmp_path / "只读.mp4", seconds=2, width=320, height=180)
    sources = home / "objects" / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    refused: list[int] = []

    def watch(response: object) -> None:
        url, status = getattr(response, "url", ""), getattr(response, "status", 0)
        if "/api/uploads/" in url and status == 503:
            refused.append(status)

    log_in(page, server, "pub")
    page.goto(f"{server}/upload")
    page.get_by_label("新课程名称").fill("只读课程")
    page.get_by_label("课时名称").fill("存储恢复后完成")
    page.get_by_label("视频或音频文件").set_input_files(str(clip))
    page.on("response", watch)
    with read_only(sources):
        page.get_by_role("button", name="上传课程").click()
        page.wait_for_function("document.getElementById('percent').textContent === '100%'")
        deadline = time.monotonic() + 60
        while len(refused) < 2 and time.monotonic() < deadline:  # the PATCH and a GET
            page.wait_for_timeout(200)
        assert len(refused) >= 2, refused
    expect(page.locator("#done")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("link", name="存储恢复后完成")).to_be_visible()
