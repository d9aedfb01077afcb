"""A Firefox-class client in a meeting with Chromium, against a real server. Firefox here has
no H.264 (its OpenH264 plug-in is downloaded at first use, and this machine is offline), as
many a Firefox has behind a firewall: in a VP8 room it sees and is seen like anyone; in the
default H.264 room it takes part by voice and the page says why."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Member, Role, User
from streaming.congress.models import Event, EventKind, EventRole
from streaming.congress.rules import Level
from streaming.congress.service import create_event
from tests.factories import PASSWORD, Tree, make_tree, make_user
from tests.firefox import Firefox
from tests.streaming.test_room_browser import PLAYING, camera_browser, new_page  # noqa: F401
from tests.terminals.study import make_member
from tests.web.test_browser import log_in, playwright, running_server, server  # noqa: F401

pytestmark = pytest.mark.browser

STATE = "document.getElementById('room-state').textContent"
PAINTING = """[...document.querySelectorAll('#tiles .tile:not([hidden]) video')]
  .some((v) => v.videoWidth > 0 && v.mozPaintedFrames > 15)"""
"""Firefox counts a stream's frames in mozPaintedFrames (its getVideoPlaybackQuality stays 0)."""


@pytest.fixture
def vp8_server() -> Iterator[str]:
    """A server whose rooms are VP8, gone (and out of the media nodes' register) before the
    next test: the test servers share one database, so they are one cluster of media nodes."""
    with running_server(room_video_codec="VP8") as base:
        yield base


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "adm", Role.org_admin, tree.town)
    make_member(session, tree.branch, "张主持", 1, login="chair")
    make_member(session, tree.branch, "马党员", 2, login="ma")
    return tree


def meeting(session: Session, tree: Tree) -> Event:
    members = {m.name: m.id for m in session.scalars(select(Member))}
    event = create_event(
        session=session,
        actor=session.scalars(select(User).where(User.login == "adm")).one(),
        org_id=tree.town.id,
        title="流动党员座谈会",
        kind=EventKind.meeting,
        level=Level.grassroots,
        starts_at=datetime(2030, 1, 1, 1, tzinfo=UTC),
        planned_minutes=60,
        agenda=[],
        invitees={members["张主持"]: EventRole.chair, members["马党员"]: EventRole.participant},
    )
    session.commit()
    return event


def firefox_joins(firefox: Firefox, base: str, event: Event) -> None:
    firefox.goto(f"{base}/login")
    firefox.evaluate(
        "(() => { const form = document.querySelector(\"form[action='/login']\");"
        " form.elements.login.value = 'ma';"
        f" form.elements.password.value = '{PASSWORD}'; form.requestSubmit(); }})()"
    )
    firefox.wait_for("location.pathname !== '/login' && document.readyState === 'complete'")
    firefox.goto(f"{base}/events/{event.id}/room")
    firefox.wait_for(f"{STATE} === '已连接'")


def test_firefox_and_chromium_see_each_other_in_a_vp8_room(
    vp8_server: str,
    camera_browser: Browser,  # noqa: F811
    tree: Tree,
    session: Session,
    tmp_path: Path,
) -> None:
    event = meeting(session, tree)
    chair = new_page(camera_browser)
    log_in(chair, vp8_server, "chair")
    chair.goto(f"{vp8_server}/events/{event.id}/room")
    expect(chair.locator("#room-state")).to_have_text("已连接")
    firefox = Firefox(tmp_path)
    try:
        firefox_joins(firefox, vp8_server, event)
        chair.get_by_role("button", name="准入全部等待者").click()
        firefox.wait_for(PAINTING)  # the chair's camera, decoded and shown frame after frame
        chair.wait_for_function(PLAYING, arg=1, timeout=20_000)  # Firefox's camera
        assert firefox.evaluate("document.getElementById('codec-note').hidden")
    finally:
        firefox.close()


def test_firefox_without_h264_takes_part_by_voice_in_an_h264_room(
    server: str,  # noqa: F811
    camera_browser: Browser,  # noqa: F811
    tree: Tree,
    session: Session,
    tmp_path: Path,
) -> None:
    event = meeting(session, tree)
    chair = new_page(camera_browser)
    log_in(chair, server, "chair")
    chair.goto(f"{server}/events/{event.id}/room")
    expect(chair.locator("#room-state")).to_have_text("已连接")
    firefox = Firefox(tmp_path)
    try:
        firefox_joins(firefox, server, event)
        assert not firefox.evaluate("document.getElementById('codec-note').hidden")
        chair.get_by_role("button", name="准入全部等待者").click()
        ma = session.scalars(select(Member).where(Member.name == "马党员")).one()
        person = chair.locator(f"#people li[data-participant='m{ma.id}']")
        expect(person).to_contain_text("在场")
        # Given the floor, its voice reaches the chair in an audio lane.
        person.get_by_role("button", name="给予发言").click()
        chair.wait_for_function(
            f"() => [...document.querySelectorAll('#lanes audio')]"
            f".some((a) => a.dataset.participant === 'm{ma.id}')",
            timeout=20_000,
        )
    finally:
        firefox.close()
