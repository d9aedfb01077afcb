"""A meeting from start to finish in headless Chromium, three people with fake cameras and
microphones: the admin schedules it on its page; the chair opens it and admits the two members
from the lobby; each sees the other two's video playing (frames decoded and advancing), named,
through the forwarder; a raised hand is given the floor and unmuted; a vote is put, cast and
counted; the broadcast plays; a dropped member rejoins; the chair ends it; its recording plays as
a lesson; the minutes hold attendance and the vote; the credit reaches a member's transcript."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Member, Role, User
from courseware.models import Lesson
from streaming.congress.models import Event, EventKind, EventRole
from streaming.congress.rules import Level
from streaming.congress.service import create_event
from streaming.media.broadcast import SEGMENT_SECONDS
from terminals.sites.models import SiteAdministrator
from tests.factories import Tree, make_course, make_tree, make_user
from tests.terminals.sites_data import make_site
from tests.terminals.study import make_member
from tests.web.test_browser import (  # noqa: F401
    CHROMIUM_ARGS,
    log_in,
    play_past,
    playwright,
    server,
)

pytestmark = pytest.mark.browser

PLAYING = """(count) => [...document.querySelectorAll('#tiles .tile:not([hidden]) video')]
  .filter((v) => v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 15)
  .length >= count"""
FRAMES = """() => [...document.querySelectorAll('#tiles .tile:not([hidden]) video')]
  .map((v) => v.getVideoPlaybackQuality().totalVideoFrames)"""


@pytest.fixture(scope="module")
def camera_browser(playwright: Playwright) -> Iterator[Browser]:  # noqa: F811
    """Chromium whose camera and microphone are its built-in test pattern and tone, granted."""
    chromium = playwright.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
        ],
    )
    yield chromium
    chromium.close()


def new_page(browser: Browser, width: int = 1280, height: int = 900) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    return context.new_page()


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    adm = make_user(session, "adm", Role.org_admin, tree.town)
    make_course(session, adm, tree.town, "会议录像")
    make_member(session, tree.branch, "张主持", 1, login="chair")
    make_member(session, tree.branch, "马党员", 2, login="ma")
    make_member(session, tree.sibling, "牛党员", 3, login="niu")
    make_member(session, tree.other, "外区党员", 4, login="outsider")
    return tree


def test_three_people_meet_and_see_each_other(
    server: str,  # noqa: F811
    camera_browser: Browser,
    tree: Tree,
    session: Session,
) -> None:
    admin = new_page(camera_browser)
    log_in(admin, server, "adm")
    admin.get_by_role("link", name="会议", exact=True).click()
    admin.get_by_label("标题").fill("村党总支党员大会")
    admin.get_by_label("组织").select_option(label="\u3000村党总支")
    admin.get_by_label("开始时间（北京时间）").fill("2030-01-01T09:00")
    admin.get_by_label("议程（每行一项）").fill("审议工作报告\n表决")
    admin.get_by_label("主持人").select_option(label="张主持 · 第一支部")
    admin.get_by_role("checkbox", name="马党员").check()
    admin.get_by_role("checkbox", name="牛党员").check()
    admin.get_by_label("参会学时").fill("1.5")
    admin.get_by_label("录像保存为以下课程的一课").select_option(label="会议录像")
    admin.get_by_role("button", name="安排会议").click()
    expect(admin.get_by_role("status")).to_have_text("会议已安排。")
    event = session.scalars(select(Event)).one()
    assert sorted(i.role for i in event.invitations) == [
        EventRole.chair,
        EventRole.participant,
        EventRole.participant,
    ]
    assert [item.title for item in event.agenda] == ["审议工作报告", "表决"]

    pages = {}
    for login, width in (("chair", 1920), ("ma", 1280), ("niu", 390)):
        page = new_page(camera_browser)
        log_in(page, server, login)
        page.set_viewport_size({"width": width, "height": 844 if width == 390 else 1080})
        page.goto(f"{server}/events")
        page.get_by_role("link", name="村党总支党员大会").click()
        page.get_by_role("link", name="进入会场").click()
        expect(page.locator("#room-state")).to_have_text("已连接")
        pages[login] = page
    chair, ma, niu = pages["chair"], pages["ma"], pages["niu"]
    chair.get_by_role("button", name="开始会议").click()
    # The two members wait in the lobby until the chair admits them.
    expect(ma.locator("#lobby-note")).to_have_text("等待主持人准入…")
    expect(chair.locator("#people li[data-state=lobby]")).to_have_count(2)
    expect(chair.locator("#roll-figures")).to_contain_text("未达到法定人数")
    chair.get_by_role("button", name="准入全部等待者").click()
    expect(ma.locator("#lobby-note")).to_be_hidden()
    expect(chair.locator("#roll-figures")).to_contain_text("应到 3 人，实到 3 人")
    expect(chair.locator("#roll-figures")).to_contain_text("已达到法定人数")

    for login, page in pages.items():
        page.wait_for_function(PLAYING, arg=2, timeout=20_000)
        before = page.evaluate(FRAMES)
        page.wait_for_timeout(1000)
        after = page.evaluate(FRAMES)
        assert all(b > a for a, b in zip(sorted(before), sorted(after), strict=True)), login
        names = {"chair": "张主持", "ma": "马党员", "niu": "牛党员"}
        captions = page.locator("#tiles .tile:not([hidden]) figcaption").all_inner_texts()
        assert sorted(captions) == sorted(n for who, n in names.items() if who != login)

    # A raised hand is granted the floor, and the speaker is unmuted at the server.
    ma_in_roll = chair.locator("#people li", has_text="马党员")
    expect(ma_in_roll).to_contain_text("已静音")
    ma.get_by_role("button", name="举手").click()
    expect(ma_in_roll).to_contain_text("举手")
    ma_in_roll.get_by_role("button", name="给予发言").click()
    expect(niu.locator("#floor-line")).to_contain_text("马党员 正在发言")
    expect(ma_in_roll).not_to_contain_text("已静音")
    expect(ma_in_roll).not_to_contain_text("举手")

    # A vote: put by the chair, cast by the three, counted against the roll, shown to all.
    chair.get_by_label("表决事项").fill("通过支部工作报告")
    chair.get_by_role("button", name="发起表决").click()
    for page in pages.values():
        expect(page.locator("#vote-motion")).to_have_text("通过支部工作报告")
        page.locator("#vote-choices").get_by_role("button", name="赞成").click()
        expect(page.locator("#vote-count")).to_contain_text("您的表决已计入")
    expect(chair.locator("#vote-count")).to_contain_text("已投 3 / 3")
    chair.get_by_role("button", name="结束表决并计票").click()
    expect(niu.locator("#vote-results")).to_contain_text("赞成 3，反对 0，弃权 0")
    expect(niu.locator("#vote-results")).to_contain_text("通过")
    expect(niu.locator("#vote-panel")).to_be_hidden()

    # The broadcast plays the program (one remux for every viewer), with its viewer count.
    admin.goto(f"{server}/events/{event.id}/watch")
    admin.wait_for_function(
        "() => document.getElementById('program').currentTime > 2", timeout=45_000
    )
    expect(admin.locator("#viewers")).to_have_text("1 人在看", timeout=10_000)

    # A member whose connection dropped comes back (a reload): admitted already, seen again.
    ma.reload()
    expect(ma.locator("#room-state")).to_have_text("已连接")
    for page in pages.values():
        page.wait_for_function(PLAYING, arg=2, timeout=20_000)

    chair.get_by_role("button", name="结束会议").click()
    for page in pages.values():
        expect(page.locator("#room-state")).to_have_text("主持人已结束会议。")
    session.expire_all()
    assert session.get_one(Event, event.id).status.value == "ended"

    # The recording is a lesson of the chosen course (made once the playlist is closed), and plays.
    recorded = select(Lesson).where(Lesson.title == "村党总支党员大会（录像）")
    for _ in range(100):
        session.expire_all()
        if (lesson := session.scalars(recorded).one_or_none()) is not None:
            break
        admin.wait_for_timeout(200)
    assert lesson is not None and lesson.status.value == "ready"
    # It covers the meeting from its opening, but for the wait for a first keyframe and the
    # segment cut short at the end.
    held = session.get_one(Event, event.id)
    assert held.started_at is not None and held.ended_at is not None
    meeting_seconds = (held.ended_at - held.started_at).total_seconds()
    assert (lesson.duration or 0) > max(meeting_seconds - 2 * SEGMENT_SECONDS - 1, 4)
    admin.goto(f"{server}/lessons/{lesson.id}")
    play_past(admin, 2)

    # The minutes hold the attendance to the second and the vote; credits reach transcripts.
    admin.goto(f"{server}/events/{event.id}/minutes")
    expect(admin.get_by_role("heading", name="会议记录：村党总支党员大会")).to_be_visible()
    for name in ("张主持", "马党员", "牛党员"):
        expect(admin.locator("table").first).to_contain_text(name)
    expect(admin.locator(".motion")).to_contain_text("赞成 3")
    ma_member = session.scalars(select(Member).where(Member.name == "马党员")).one()
    ma.goto(f"{server}/members/{ma_member.id}/transcript")
    expect(ma.get_by_role("row", name="直播活动")).to_contain_text("1.5")
    expect(ma.get_by_role("row", name="直播活动")).to_contain_text("村党总支党员大会")

    # The minutes are attached to the recording's lesson, as a document of their own.
    attached = admin.get_by_role("link", name="会议记录.html")
    for _ in range(50):
        admin.goto(f"{server}/lessons/{lesson.id}")
        if attached.count():
            break
        admin.wait_for_timeout(300)
    document = admin.request.get(f"{server}{attached.get_attribute('href')}").text()
    assert "会议记录：村党总支党员大会" in document and "马党员" in document

    # Someone not invited is refused, on the page and at the signalling.
    outsider = new_page(camera_browser)
    log_in(outsider, server, "outsider")
    response = outsider.goto(f"{server}/events/{event.id}/room")
    assert response is not None and response.status == 404


def meeting(session: Session, tree: Tree, site_ids: list[int] | None = None) -> Event:
    """A meeting scheduled by adm: 张主持 in the chair, 马党员 invited, the sites as sub-venues."""
    members = {m.name: m.id for m in session.scalars(select(Member))}
    event = create_event(
        session=session,
        actor=session.scalars(select(User).where(User.login == "adm")).one(),
        org_id=tree.town.id,
        title="支部党员大会",
        kind=EventKind.meeting,
        level=Level.grassroots,
        starts_at=datetime(2030, 1, 1, 1, tzinfo=UTC),
        planned_minutes=60,
        agenda=[],
        invitees={members["张主持"]: EventRole.chair, members["马党员"]: EventRole.participant},
        site_ids=site_ids or [],
    )
    session.commit()
    return event


def chair_in_room(browser: Browser, base: str, event: Event) -> Page:
    """The chair's page, connected to the event's room."""
    chair = new_page(browser)
    log_in(chair, base, "chair")
    chair.goto(f"{base}/events/{event.id}/room")
    expect(chair.locator("#room-state")).to_have_text("已连接")
    return chair


def test_a_sub_venue_takes_its_roll_on_the_tv_and_the_chair_sees_it_counted(
    server: str,  # noqa: F811
    camera_browser: Browser,
    tree: Tree,
    session: Session,
) -> None:
    """A village site's administrator opens the room on the learning room's TV: the site joins
    as a sub-venue, ticks who is in the room and records the roll; the chair sees 实到 rise."""
    adm = session.scalars(select(User).where(User.login == "adm")).one()
    clerk = make_user(session, "clerk", Role.member, tree.branch)
    site, _ = make_site(session, adm, tree.branch.id, name="马家村站点")
    session.add(SiteAdministrator(site_id=site.id, user_id=clerk.id))
    session.commit()
    event = meeting(session, tree, site_ids=[site.id])
    chair, venue = new_page(camera_browser), new_page(camera_browser, 1920, 1080)
    for page, login in ((chair, "chair"), (venue, "clerk")):
        log_in(page, server, login)
        page.goto(f"{server}/events/{event.id}/room")
        expect(page.locator("#room-state")).to_have_text("已连接")
    expect(chair.locator("#roll-figures")).to_contain_text("应到 2 人，实到 1 人")
    expect(venue.get_by_role("heading", name="本会场点名")).to_be_visible()
    venue.get_by_role("checkbox", name="马党员").check()
    venue.get_by_role("button", name="提交点名").click()
    expect(chair.locator("#roll-figures")).to_contain_text("应到 2 人，实到 2 人")
    expect(chair.locator(f"#people li[data-participant='s{site.id}']")).to_contain_text(
        "分会场 · 点名 1 人"
    )
