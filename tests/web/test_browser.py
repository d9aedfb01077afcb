"""User flows in headless Chromium against a real `yuanjiao run` server on loopback."""

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    Error,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    expect,
    sync_playwright,
)
from sqlalchemy.orm import Session

import courseware.tasks  # noqa: F401  (the job types the lessons here are made with)
from core.jobs import execute_job
from core.jobs.models import Job, JobStatus
from core.people.accounts import set_password
from core.people.models import Role
from core.storage import get_store
from courseware.models import Lesson, LessonStatus, Visibility
from courseware.service import create_course
from tests.factories import PASSWORD, Tree, ingest, make_tree, make_user
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
    with running_server() as base:
        yield base


@contextlib.contextmanager
def running_server(**settings: str) -> Iterator[str]:
    """`yuanjiao run` on a free loopback port with extra YUANJIAO_* `settings`; its base URL."""
    port = free_port()
    yuanjiao = str(Path(sys.executable).parent / "yuanjiao")
    env = os.environ.copy() | {
        f"YUANJIAO_{name.upper()}": value for name, value in settings.items()
    }
    process = subprocess.Popen(
        [yuanjiao, "run", "--no-demo", "--host", "127.0.0.1", "--port", str(port)], env=env
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
    try:
        yield base
    finally:
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
    """A fresh page; the test fails if the Content-Security-Policy blocked anything on it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    context.close()
    assert not blocked, blocked


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
    page.get_by_role("button", name="开始上传").click()
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
    quality = page.locator("#quality")
    expect(quality).to_have_text(re.compile(r"清晰度：自动 · \d+p"))
    quality.click()  # Auto → the top rung, chosen by hand
    expect(quality).to_have_text("清晰度：480p")
    target = 1
    page.wait_for_function(
        f"() => window.yuanjiaoPlayer.hls.currentLevel === {target}"
        f" && window.yuanjiaoPlayer.hls.levels[{target}].details !== undefined"
    )
    before = page.evaluate("window.yuanjiaoPlayer.video.currentTime")
    page.wait_for_function(f"() => window.yuanjiaoPlayer.video.currentTime > {before + 1}")

    saved = lambda response: "/position" in response.url and response.ok  # noqa: E731
    with page.expect_response(saved):  # pausing saves the position
        page.evaluate("window.yuanjiaoPlayer.video.pause()")
    stopped_at = page.evaluate("window.yuanjiaoPlayer.video.currentTime")
    page.reload()
    expect(page.get_by_text("已从上次观看处继续播放。")).to_be_visible()
    expect(page.locator("#time")).to_have_text(f"0:{int(stopped_at):02d} / 0:08")
    play_past(page, 0)  # nothing loads before play; then it starts where the viewer stopped
    resumed = page.evaluate("window.yuanjiaoPlayer.video.currentTime")
    assert abs(resumed - int(stopped_at)) < 1.5, (resumed, stopped_at)

    page.get_by_label("学时").fill("1.5")  # the publisher corrects the credit by hand
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("1.5 学时")).to_be_visible()


def play_past(page: Page, seconds: float) -> None:
    """Start the video muted (as autoplay rules allow) and wait until it has really played."""
    # Functions, not expressions: a string predicate would need eval, which the CSP forbids.
    page.wait_for_function("() => window.yuanjiaoPlayer !== undefined")
    page.evaluate("window.yuanjiaoPlayer.video.muted = true; window.yuanjiaoPlayer.video.play()")
    page.wait_for_function(
        f"() => window.yuanjiaoPlayer.video.currentTime > {seconds}", timeout=30_000
    )


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


def test_upload_buttons_appear_only_when_they_apply(
    server: str, page: Page, tree: Tree, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "按钮测试.mp4", seconds=2)
    log_in(page, server, "pub")
    page.goto(f"{server}/upload")
    start, pause, resume, retry = (
        page.locator(f"#{name}") for name in ("start", "pause", "resume", "retry")
    )
    expect(start).to_be_enabled()  # before the upload: no pause, no resume, no retry
    for hidden in (pause, resume, retry):
        expect(hidden).to_be_hidden()
    page.get_by_label("新课程名称").fill("按钮测试课程")
    page.get_by_label("课时名称").fill("按钮测试")
    page.get_by_label("视频或音频文件").set_input_files(str(clip))

    creations: list[str] = []
    held: list[Route] = []
    patches = {"next": "hold"}

    def control(route: Route) -> None:
        """Creation counted; the first chunk held in flight, the next one refused once."""
        method = route.request.method
        if method == "POST":
            creations.append(route.request.url)
        if method == "PATCH" and patches["next"] == "hold":
            held.append(route)
            return
        if method == "PATCH" and patches["next"] == "refuse":
            patches["next"] = "pass"
            route.fulfill(status=400, content_type="application/json", body='{"detail": "坏块"}')
            return
        route.continue_()

    page.route("**/api/uploads**", control)
    with page.expect_request(lambda request: request.method == "PATCH"):
        start.dblclick()  # a double click starts one upload
    expect(start).to_be_disabled()
    expect(pause).to_be_visible()
    expect(resume).to_be_hidden()
    expect(retry).to_be_hidden()

    pause.click()
    expect(resume).to_be_visible()
    expect(pause).to_be_hidden()
    expect(page.locator("#phase")).to_have_text("已暂停")
    for route in held:  # the paused request was cancelled by the browser
        with contextlib.suppress(Error):
            route.abort()

    patches["next"] = "refuse"
    resume.click()
    expect(retry).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("坏块")
    expect(page.locator("#phase")).to_have_text("上传已中断")
    expect(pause).to_be_hidden()
    expect(resume).to_be_hidden()

    retry.click()
    expect(page.locator("#done")).to_be_visible(timeout=120_000)
    for gone in (pause, resume, retry):  # finished: nothing left to pause or resume
        expect(gone).to_be_hidden()
    expect(start).to_be_disabled()
    assert len(creations) == 1, creations


def test_api_docs_load_nothing_from_outside(server: str, page: Page) -> None:
    outside: list[str] = []

    def note(request: Request) -> None:
        if not request.url.startswith((server, "data:", "blob:")):
            outside.append(request.url)

    page.on("request", note)
    page.goto(f"{server}/docs")
    # The API description is large: a loaded machine takes more than the default 5 s.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("yuanjiao", timeout=30_000)
    expect(page.locator(".opblock").first).to_be_visible()
    assert not outside, outside


def test_editor_edits_reorders_retries_and_deletes(
    server: str, page: Page, tree: Tree, session: Session, tmp_path: Path
) -> None:
    publisher = make_user(session, "editor", Role.publisher, tree.town)
    course = create_course(
        session=session, user=publisher, title="编辑流程课程", org_id=tree.town.id
    )
    clip = make_clip(tmp_path / "课.mp4", seconds=2)
    session.commit()
    lessons = [
        ingest(publisher, course.id, clip, title) for title in ("第一课", "第二课", "第三课")
    ]
    for lesson in lessons[:2]:
        assert lesson.job_id is not None and execute_job(lesson.job_id).status is JobStatus.done
    failed = session.get_one(Lesson, lessons[2].id)
    failed.status, failed.error = LessonStatus.failed, "No space left on device"
    session.get_one(Job, failed.job_id).status = JobStatus.failed
    session.commit()

    log_in(page, server, "editor")
    page.goto(f"{server}/courses/{course.id}")
    page.get_by_label("课程名称").fill("编辑后的课程")
    page.get_by_label("简介").fill("第一行\n第二行")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("heading", name="编辑后的课程")).to_be_visible()
    expect(page.locator("p.text")).to_have_text("第一行\n第二行")

    # Reorder from the keyboard (or a TV remote's OK key): focus stays on the moved lesson.
    titles = page.locator("#lessons > li .lesson-line a")
    down = page.get_by_role("button", name="下移“第一课”")
    down.focus()
    page.keyboard.press("Enter")
    expect(titles).to_have_text(["第二课", "第一课", "第三课"])
    expect(down).to_be_focused()
    expect(page.get_by_role("status")).to_have_text("“第一课”已移到第 2 位。")
    page.reload()
    expect(titles).to_have_text(["第二课", "第一课", "第三课"])

    # Retry the failed lesson: it is queued, the page follows it until it is published.
    third = page.locator("#lessons > li").nth(2)
    page.get_by_role("button", name="重试“第三课”").click()
    expect(third.locator(".status")).to_contain_text(re.compile("排队中|转码中"))
    expect(third).to_contain_text("学时", timeout=120_000)
    expect(third.get_by_role("button", name="重试“第三课”")).to_have_count(0)

    # Delete, asked first: "cancel" keeps the lesson, "delete" removes it and its objects.
    dialog = page.locator("#confirm-dialog")
    page.get_by_role("button", name="删除“第二课”").click()
    expect(dialog).to_contain_text("确定删除课时“第二课”吗？")
    dialog.get_by_role("button", name="取消").click()
    expect(titles).to_have_count(3)
    page.get_by_role("button", name="删除“第二课”").click()
    dialog.get_by_role("button", name="删除", exact=True).click()
    expect(titles).to_have_text(["第一课", "第三课"])
    expect(page.get_by_role("status")).to_have_text("“第二课”已删除。")
    deadline = time.monotonic() + 60
    while list(get_store().list(f"lessons/{lessons[1].id}/")) and time.monotonic() < deadline:
        page.wait_for_timeout(200)  # the server's worker runs the purge job
    assert list(get_store().list(f"lessons/{lessons[1].id}/")) == []
    page.reload()
    expect(titles).to_have_text(["第一课", "第三课"])


def test_a_temporary_password_must_be_changed_at_first_login(
    server: str, page: Page, tree: Tree, session: Session
) -> None:
    newcomer = make_user(session, "newcomer", Role.member, tree.branch)
    set_password(session=session, user=newcomer, password="Temp-pass-4821", must_change=True)
    session.commit()
    page.goto(f"{server}/login")
    page.get_by_label("登录名").fill("newcomer")
    page.get_by_label("密码").fill("Temp-pass-4821")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="修改密码")).to_be_visible()
    expect(page.get_by_text("您使用的是临时密码登录")).to_be_visible()
    page.goto(f"{server}/")  # nothing else opens before the password is changed
    expect(page).to_have_url(re.compile(r"/account/password\?next=/$"))
    page.get_by_label("当前密码").fill("Temp-pass-4821")
    page.get_by_label("新密码", exact=True).fill("My-own-choice-77")
    page.get_by_label("再次输入新密码").fill("My-own-choice-77")
    page.get_by_role("button", name="修改密码").click()
    expect(page).to_have_url(f"{server}/")
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    page.get_by_role("button", name="退出").click()
    page.goto(f"{server}/login")
    page.get_by_label("登录名").fill("newcomer")
    page.get_by_label("密码").fill("My-own-choice-77")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{server}/")
    expect(page.get_by_role("link", name="newcomer")).to_be_visible()


def test_an_upload_the_server_could_not_store_is_completed_when_it_can(
    server: str, page: Page, tree: Tree, tmp_path: Path, home: Path
) -> None:
    """The store refuses writes when the last byte arrives (made read-only for real): the
    browser keeps the upload, asks for its lesson until the store is back, and gets it."""
    clip = make_clip(tmp_path / "只读.mp4", seconds=2, width=320, height=180)
    sources = home / "objects" / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    refused: list[int] = []

    def watch(response: Response) -> None:
        if "/api/uploads/" in response.url and response.status == 503:
            refused.append(response.status)

    log_in(page, server, "pub")
    page.goto(f"{server}/upload")
    page.get_by_label("新课程名称").fill("只读课程")
    page.get_by_label("课时名称").fill("存储恢复后完成")
    page.get_by_label("视频或音频文件").set_input_files(str(clip))
    page.on("response", watch)

    def asked_in_vain(response: Response) -> bool:
        return (
            "/api/uploads/" in response.url
            and response.request.method == "GET"
            and (response.status == 503)
        )

    with read_only(sources):
        with page.expect_response(asked_in_vain, timeout=60_000):  # the lesson, asked for once
            page.get_by_role("button", name="开始上传").click()
        expect(page.locator("#percent")).to_have_text("100%")
        assert len(refused) >= 2, refused  # the last chunk's PATCH was refused too
    expect(page.locator("#done")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("link", name="存储恢复后完成")).to_be_visible()
