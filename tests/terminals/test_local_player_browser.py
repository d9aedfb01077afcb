"""The site's local player end to end, in headless Chromium, with the server NOT running.

An agent enrols and syncs against a real server (a tiny transcoded lesson, the player's files,
the roster), the server is stopped, and `yuanjiao terminal serve` runs a group session: start,
two members checked in (one by list, one by typed code), the lesson played by the web player from
disk, the session ended. The outbox then holds session, attendance, interval and frame records
numbered 1..N without a gap; a server started again receives each once through `terminal sync`.
Then, in the same browser, the member reads the lesson's credit hours in their study record and
the district's admin reads the session on the site's report card for the month.
The pages pass axe (AAA contrast) at 1920 and 390 px, and screenshots are taken at both widths.
"""

import base64
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import courseware.tasks  # noqa: F401  (the transcode job type)
from core.jobs import execute_job
from core.jobs.models import JobStatus
from core.people.checkin import checkin_code
from core.people.models import Role
from courseware.models import Lesson, Visibility
from courseware.service import create_course
from terminals.agent.outbox import Outbox
from terminals.agent.state import AgentDir
from terminals.agent.sync import enrol_agent, run_sync
from terminals.sync.models import SiteRecord
from tests.factories import Tree, ingest, make_user
from tests.media import make_clip
from tests.server import YUANJIAO, free_port, running_server
from tests.terminals.study import make_member
from tests.terminals.sync_fixtures import assign, make_site
from tests.web.test_accessibility import AXE, DESKTOP, PHONE, Survey
from tests.web.test_browser import browser, log_in, playwright  # noqa: F401

pytestmark = pytest.mark.browser
CODE = "SERVE-ENROL-1"


@contextmanager
def local_player(agent_dir: AgentDir, log: Path) -> Iterator[str]:
    """`yuanjiao terminal serve` on a free loopback port."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [YUANJIAO, "terminal", "serve", "--dir", str(agent_dir.root), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError(log.read_text(errors="replace"))
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_group_session_offline_then_synced(
    browser: Browser,  # noqa: F811
    session: Session,
    tree: Tree,
    tmp_path: Path,
) -> None:
    publisher = make_user(session, "serve-pub", Role.publisher, tree.district)
    course = create_course(
        session=session, user=publisher, title="站点课程", org_id=tree.district.id,
        visibility=Visibility.public,
    )  # fmt: skip
    session.commit()
    clip = make_clip(tmp_path / "田间.mp4", seconds=3)
    lesson = ingest(publisher, course.id, clip, "第一课：田间管理")
    assert lesson.job_id is not None and execute_job(lesson.job_id).status is JobStatus.done
    session.execute(
        update(Lesson)
        .where(Lesson.id == lesson.id)
        .values(credit_hours=1.5, credit_hours_set_by_hand=True)
    )
    session.commit()
    make_user(session, "report-admin", Role.org_admin, tree.district)
    site = make_site(session, tree.general, "500101001009", tier="basic", enrol=CODE)
    assign(session, site, lesson)
    listed, _ = make_member(session, tree.branch, "张三", 1, login="zhangsan")
    coded, _ = make_member(session, tree.sibling, "李四", 2)
    make_member(session, tree.other, "外区党员", 3)  # not of the site's subtree
    agent_dir = AgentDir(tmp_path / "agent")

    with running_server(tmp_path) as server:
        enrol_agent(agent_dir, server=server.url, code=CODE)
        summary = run_sync(agent_dir, any_time=True)
        assert summary.errors == [] and summary.lessons_complete == 1, server.log_tail()
    assert agent_dir.player_path("js/player.js").is_file()
    roster = agent_dir.roster()
    assert sorted(m["name"] for m in roster["members"]) == ["张三", "李四"]
    assert all(checkin_code(m["id"]) not in str(m) for m in roster["members"])

    shots = Path(os.environ.get("YUANJIAO_SHOTS", tmp_path))
    survey = Survey()
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    context.add_init_script(path=AXE)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("requestfailed", lambda r: console.append(f"failed {r.url}"))
    page.on("pageerror", lambda e: console.append(str(e)))
    with local_player(agent_dir, tmp_path / "serve.log") as base:
        page.goto(base + "/")
        survey.check(page, "home")
        page.locator("input[name=title]").fill("十一月主题党日")
        page.get_by_label("第一课：田间管理").check()
        page.locator("#start").click()
        expect(page.locator("#expected")).to_have_text("2")
        page.get_by_role("button", name="为 张三 签到").click()
        expect(page.locator("#checked-in")).to_contain_text("张三")
        page.locator("#code").fill(f"{checkin_code(coded.id)[:4]} {checkin_code(coded.id)[4:]}")
        page.locator("#code").press("Enter")
        expect(page.locator("#present")).to_have_text("2")
        page.locator("#code").fill("00000000")
        page.locator("#code").press("Enter")
        expect(page.locator("#checkin-error")).to_be_visible()
        survey.check(page, "session")
        for width, size in (("1920", DESKTOP), ("390", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(path=str(shots / f"serve-session-{width}.png"), full_page=True)
        page.set_viewport_size(DESKTOP)

        page.get_by_role("link", name="播放: 第一课：田间管理").click()
        survey.check(page, "lesson")
        page.wait_for_function("() => window.yuanjiaoPlayer !== undefined")
        page.evaluate("window.yuanjiaoPlayer.video.muted = true")
        page.locator("#play").click()
        try:
            page.wait_for_function("() => document.getElementById('video').ended", timeout=30_000)
        except AssertionError as exc:
            raise AssertionError(f"the lesson did not play to its end: {console}") from exc
        page.screenshot(path=str(shots / "serve-lesson-1920.png"))
        page.get_by_role("link", name="返回签到").click()
        page.locator("#end").click()
        expect(page.locator("#start-session")).to_be_visible()
        outbox = Outbox(agent_dir.outbox_path)
        for _ in range(300):  # frames are captured after the beat is answered
            if sum(r["kind"] == "frame" for r in outbox.pending(1000)) >= 3:
                break
            time.sleep(0.1)
    context.close()
    report = survey.axe + survey.targets + survey.overflow
    assert not report, "\n".join(report)

    kept = outbox.pending(1000)
    assert [r["seq"] for r in kept] == list(range(1, len(kept) + 1))
    kinds = [r["kind"] for r in kept]
    assert kinds.count("session") == 2 and kinds.count("attendance") == 2
    assert kinds.count("interval") >= 1 and kinds.count("frame") == 3, kinds
    methods = {
        r["body"]["member_id"]: r["body"]["method"] for r in kept if r["kind"] == "attendance"
    }
    assert methods == {listed.id: "list", coded.id: "pin"}
    played = [r["body"] for r in kept if r["kind"] == "interval"]
    assert min(b["media_start"] for b in played) < 0.5 and max(b["media_end"] for b in played) > 2.5
    for frame in (r["body"] for r in kept if r["kind"] == "frame"):
        jpeg = base64.b64decode(frame["jpeg_base64"])
        assert jpeg[:2] == b"\xff\xd8" and len(jpeg) == frame["size"] < 40 * 1024

    with running_server(tmp_path) as server:
        config = agent_dir.load()
        config.server = server.url  # the server is back (on another test port)
        agent_dir.save(config)
        synced = run_sync(agent_dir)
        assert synced.records_pending == 0, synced.errors
        again = run_sync(agent_dir)
        assert again.records_sent == 0
        session.expire_all()
        assert session.scalar(select(func.count()).select_from(SiteRecord)) == len(kept)
        _credits_are_seen(browser, server.url, site.id, shots)


def _credits_are_seen(browser: Browser, base: str, site_id: int, shots: Path) -> None:  # noqa: F811
    """The member's study record shows the session's credit; the site's report card its session."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    log_in(page, base, "zhangsan")
    page.goto(base + "/my/study")
    page.get_by_role("link", name="我的完整学习档案").click()
    earned = page.locator(".totals div", has_text="已获学时").locator("dd")
    expect(earned).to_have_text("1.5")
    entry = page.locator("tr", has_text="站点集中学习")
    expect(entry).to_have_count(1)
    expect(entry.locator("td").nth(2)).to_have_text("1.5")
    expect(entry.locator("td").nth(3)).to_have_text("第一课：田间管理")
    attended = page.locator("tr", has_text="十一月主题党日")
    expect(attended).to_contain_text("第一课：田间管理")
    expect(attended).not_to_contain_text("不计学时")
    page.screenshot(path=str(shots / "serve-transcript-1920.png"), full_page=True)
    context.clear_cookies()
    log_in(page, base, "report-admin")
    page.goto(f"{base}/admin/reports/sites/{site_id}")
    held = page.locator("table.report-card tr", has_text="集中学习")
    expect(held.locator("td").nth(1)).to_have_text("1 次")
    page.screenshot(path=str(shots / "serve-report-card-1920.png"), full_page=True)
    context.close()
