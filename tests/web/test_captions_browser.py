"""Captions in headless Chromium: an editor adds them on the lesson page (a bad file is refused
naming the cue), a viewer's player gets them as a text track whose cues load, and they go."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from core.jobs import execute_job
from core.jobs.models import JobStatus
from core.people.models import Role
from courseware.models import Visibility
from courseware.service import create_course
from tests.factories import Tree, ingest, make_user
from tests.media import make_clip
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    browser,
    log_in,
    page,
    playwright,
    server,
    tree,
)

pytestmark = pytest.mark.browser

GOOD = "1\n00:00:00,200 --> 00:00:01,500\n同志们好\n\n2\n00:00:01,600 --> 00:00:02,800\n开始学习\n"
BAD = GOOD.replace("00:00:01,600 --> 00:00:02,800", "00:00:01,600 --> 00:00:01,000")


def test_editor_adds_captions_and_a_viewer_plays_them(
    server: str,  # noqa: F811
    page: Page,  # noqa: F811
    browser: Browser,  # noqa: F811
    tree: Tree,  # noqa: F811
    session: Session,
    tmp_path: Path,
) -> None:
    publisher = make_user(session, "captioner", Role.publisher, tree.town)
    course = create_course(
        session=session,
        user=publisher,
        title="字幕课程",
        org_id=tree.town.id,
        visibility=Visibility.org,
    )
    session.commit()
    lesson = ingest(publisher, course.id, make_clip(tmp_path / "课.mp4", seconds=3), "字幕课")
    assert lesson.job_id is not None and execute_job(lesson.job_id).status is JobStatus.done
    (tmp_path / "坏.srt").write_bytes(BAD.encode("gbk"))
    (tmp_path / "好.srt").write_bytes(GOOD.encode("gbk"))

    log_in(page, server, "captioner")
    page.goto(f"{server}/lessons/{lesson.id}")
    page.get_by_label("字幕语言").select_option("zh-CN")
    page.get_by_label("字幕文件").set_input_files(str(tmp_path / "坏.srt"))
    page.get_by_role("button", name="添加字幕").click()
    expect(page.locator("#captions-error")).to_have_text(
        "第 2 条字幕（第 6 行）：结束时间 00:00:01.000 不晚于开始时间 00:00:01.600。"
    )
    page.get_by_label("字幕文件").set_input_files(str(tmp_path / "好.srt"))
    page.get_by_role("button", name="添加字幕").click()
    expect(page.locator(".captions-list")).to_contain_text("中文 2 条")

    viewer = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    member = viewer.new_page()
    log_in(member, server, "member")
    member.goto(f"{server}/lessons/{lesson.id}")
    track = member.locator("#video > track")
    expect(track).to_have_count(1)
    expect(track).to_have_attribute("srclang", "zh-CN")
    expect(track).to_have_attribute("label", "中文")
    expect(track).to_have_attribute("default", "")
    # the Chinese track is the default on a Chinese page: shown without a click, hls.js or not
    member.wait_for_function(
        """() => {
            const track = document.getElementById("video").textTracks[0];
            return track.mode === "showing" && track.cues !== null && track.cues.length === 2;
        }"""
    )
    member.evaluate(
        "const video = document.getElementById('video'); video.muted = true; video.play()"
    )
    member.wait_for_function(
        """() => {
            const video = document.getElementById("video");
            const active = video.textTracks[0].activeCues;
            return video.currentTime > 0.3 && active !== null && active.length === 1;
        }"""
    )
    cues = member.evaluate(
        """Array.from(document.getElementById("video").textTracks[0].cues,
                      (cue) => [cue.startTime, cue.endTime, cue.text])"""
    )
    assert cues == [[0.2, 1.5, "同志们好"], [1.6, 2.8, "开始学习"]]
    assert member.locator("#captions-form").count() == 0
    viewer.close()

    page.get_by_role("button", name="删除中文字幕").click()
    page.locator("#confirm-dialog").get_by_role("button", name="删除", exact=True).click()
    expect(page.locator(".captions-list")).to_have_count(0)
    expect(page.locator("#video > track")).to_have_count(0)
