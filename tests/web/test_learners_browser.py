"""A member in headless Chromium: activates an invitation code on a phone-sized screen, lands on
their own page, sees the bell's count of unread notices, opens one and sees the count drop."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.notify.service import notify
from core.people.invitations import issue_invitation
from core.people.models import Member, Role, User
from core.people.service import add_member
from core.settings import get_settings
from tests.factories import id_number, make_tree, make_user

# The server, browser and CSP-checked page of the other browser tests.
from tests.web.test_browser import browser, page, playwright, server  # noqa: F401

pytestmark = pytest.mark.browser
PASSWORD = "Study-at-home-2026"


def test_a_member_activates_a_code_and_reads_notices_from_the_bell(
    server: str,  # noqa: F811
    page: Page,  # noqa: F811
    session: Session,
    tmp_path: Path,
) -> None:
    tree = make_tree(session)
    admin = make_user(session, "adm", Role.org_admin, tree.town)
    member = add_member(
        session=session,
        org_id=tree.branch.id,
        name="王芳",
        id_number=id_number(7),
        hash_key=get_settings().id_hash_key,
        phone="13800138000",
    )
    code = issue_invitation(session=session, actor=admin, member_id=member.id).code
    session.commit()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server}/activate")
    expect(page.get_by_role("heading", name="激活您的登录账号")).to_be_visible()
    page.get_by_label("邀请码").fill(code.lower())
    page.get_by_label("身份证号").fill(id_number(7))
    page.get_by_label("自选登录名").fill("13800138000")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password_again]").fill(PASSWORD)
    page.get_by_role("button", name="激活").click()
    expect(page).to_have_url(f"{server}/me?done=activated")
    expect(page.get_by_role("heading", name="王芳")).to_be_visible()
    expect(page.locator("#my-studies")).to_be_visible()
    assert id_number(7) not in page.content()
    # The roll-call QR code for site sessions, drawn as SVG by the server, big enough to scan.
    qr = page.get_by_role("img", name="我的签到二维码")
    expect(qr).to_be_visible()
    assert (qr.bounding_box() or {"width": 0})["width"] >= 150
    page.screenshot(path=str(tmp_path / "me-390.png"), full_page=True)

    user = session.scalars(select(User).where(User.login == "13800138000")).one()
    assert session.scalar(select(Member.user_id).where(Member.id == member.id)) == user.id
    for title in ("学习提醒：党史第一课", "支部会议通知"):
        notify(session=session, recipients=[user], category="reminder", title=title, link="/me")
    session.commit()

    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    bell = page.locator("#bell")
    expect(bell.locator(".bell-count")).to_have_text("2")
    expect(bell).to_have_accessible_name(re.compile(r"^通知\s*2\s*条未读$"))
    bell.click()
    expect(page.get_by_role("heading", name="通知")).to_be_visible()
    expect(page.locator("#unread-summary")).to_contain_text("2 条未读通知")
    page.get_by_role("link", name="学习提醒：党史第一课").click()
    expect(page.get_by_role("heading", name="学习提醒：党史第一课")).to_be_visible()
    expect(bell.locator(".bell-count")).to_have_text("1")
    page.get_by_role("link", name="通知", exact=True).last.click()
    page.get_by_role("button", name="全部标为已读").click()
    expect(bell.locator(".bell-count")).to_be_hidden()
    expect(bell).to_have_accessible_name("通知")

    # Logging in again lands on the member's own page.
    page.get_by_role("button", name="退出").click()
    page.goto(f"{server}/login")
    page.get_by_label("登录名").fill("13800138000")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{server}/me")
