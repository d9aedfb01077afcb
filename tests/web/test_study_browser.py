"""A member plays a short lesson to the end in headless Chromium: the player's beats reach the
server, are stored, and the lesson's credit appears on the member's record; a second tab takes
the study over and the first is told so."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import courseware.tasks  # noqa: F401  (the job type the lesson is made with)
from core.jobs import execute_job
from core.jobs.models import JobStatus
from core.people.models import Role
from courseware.models import Lesson
from terminals.credits.models import CreditEntry
from terminals.evidence.models import PlaybackBeat, PlaybackSession
from tests.factories import Tree, ingest, make_course, make_tree, make_user
from tests.media import make_clip
from tests.terminals.study import make_member
from tests.web.test_browser import browser, log_in, playwright, running_server  # noqa: F401

pytestmark = pytest.mark.browser
LESSON_SECONDS = 8


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server() as base:
        yield base


@pytest.fixture
def lesson_id(session: Session, tree: Tree, tmp_path: Path) -> int:
    """A ready 8 s lesson worth half a credit hour (transcoded here, tiny)."""
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    course = make_course(session, publisher, tree.town, title="学习课程")
    clip = make_clip(tmp_path / "短课.mp4", seconds=LESSON_SECONDS)
    lesson = ingest(publisher, course.id, clip, "短课")
    assert lesson.job_id is not None and execute_job(lesson.job_id).status is JobStatus.done
    stored = session.get_one(Lesson, lesson.id)
    stored.credit_hours = 0.5
    session.commit()
    return lesson.id


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_member(session, tree.branch, "张三", 1, login="zhang")
    return tree


def new_page(browser: Browser) -> Page:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    return context.new_page()


def test_playing_a_lesson_through_earns_its_credit(
    server: str,
    browser: Browser,  # noqa: F811
    session: Session,
    lesson_id: int,
) -> None:
    page = new_page(browser)
    log_in(page, server, "zhang")
    page.goto(f"{server}/lessons/{lesson_id}")
    beats: list[int] = []
    page.on(
        "response",
        lambda r: beats.append(r.status) if r.url.endswith("/api/study/beats") else None,
    )
    page.get_by_role("button", name="播放").click()
    page.wait_for_function("() => window.yuanjiaoPlayer.video.ended", timeout=60_000)
    page.wait_for_function("() => window.yuanjiaoStudy.state().seq >= 2")
    page.wait_for_timeout(500)
    assert beats and all(status == 200 for status in beats), beats
    session.expire_all()
    stored = session.scalar(select(func.count()).select_from(PlaybackBeat))
    assert stored is not None and stored >= 2
    entries = list(session.scalars(select(CreditEntry)))
    assert [(e.lesson_id, e.hours, e.source) for e in entries] == [(lesson_id, 0.5, "web")]
    page.goto(f"{server}/my/study")
    expect(page.get_by_role("heading", name="我的学习")).to_be_visible()
    page.get_by_role("link", name="我的完整学习档案").click()
    expect(page.get_by_role("heading", name="张三的学习档案")).to_be_visible()
    expect(page.get_by_role("link", name="短课")).to_be_visible()
    page.context.close()


def test_a_second_tab_takes_the_study_over(
    server: str,
    browser: Browser,  # noqa: F811
    session: Session,
    lesson_id: int,
) -> None:
    page = new_page(browser)
    log_in(page, server, "zhang")
    page.goto(f"{server}/lessons/{lesson_id}")
    page.get_by_role("button", name="播放").click()
    page.wait_for_function("() => window.yuanjiaoStudy.state().session !== null")
    other = page.context.new_page()
    other.goto(f"{server}/lessons/{lesson_id}")
    other.get_by_role("button", name="播放").click()
    other.wait_for_function("() => window.yuanjiaoStudy.state().session !== null")
    page.get_by_role("button", name="暂停").click()
    page.wait_for_function("() => window.yuanjiaoStudy.state().stopped", timeout=15_000)
    expect(page.locator("#player-note")).to_contain_text("另一个窗口")
    session.expire_all()
    ended = session.scalar(
        select(func.count())
        .select_from(PlaybackSession)
        .where(PlaybackSession.ended_at.is_not(None))
    )
    assert ended == 1
    page.context.close()
