"""A Firefox-class client in a meeting with Chromium, against a real server. Firefox here has
no H.264 (its OpenH264 plug-in is downloaded at first use, and this machine is offline), as
many a Firefox has behind a firewall: in a VP8 room it sees and is seen like anyone; in the
default H.264 room it takes part by voice and the page says why."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Member, Role
from streaming.congress.models import Event
from tests.factories import PASSWORD, Tree, make_tree, make_user
from tests.firefox import Firefox
from tests.streaming.test_room_browser import (  # noqa: F401
    PLAYING,
    camera_browser,
    chair_in_room,
    meeting,
)
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
    chair = chair_in_room(camera_browser, vp8_server, event)
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
    chair = chair_in_room(camera_browser, server, event)
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
