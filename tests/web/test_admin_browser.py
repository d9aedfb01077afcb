"""An org admin in headless Chromium: add an account and grant it a role, then import a roster,
read the report of a bad file, and import the corrected file (twice); send a failed text
message again from the deliveries log."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.notify.models import Delivery, DeliveryStatus, Notice
from core.people.models import Member, Role, User
from core.settings import get_settings
from tests.core.test_notify import Gateway, gateway  # noqa: F401
from tests.factories import Tree, id_number, make_tree, make_user, roster_csv

# The server, browser and login helper of the other browser tests.
from tests.web.test_browser import (  # noqa: F401
    browser,
    log_in,
    page,
    playwright,
    running_server,
    server,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "adm", Role.org_admin, tree.town)
    return tree


def test_add_an_account_and_grant_a_role(
    server: str,  # noqa: F811
    page: Page,  # noqa: F811
    tree: Tree,
    session: Session,
) -> None:
    log_in(page, server, "adm")
    page.get_by_role("link", name="管理").click()
    expect(page.get_by_role("heading", name="组织")).to_be_visible()
    expect(page.get_by_role("link", name="第一支部")).to_be_visible()
    expect(page.get_by_role("link", name="邻区委")).to_have_count(0)  # outside the subtree

    tabs = page.get_by_role("navigation", name="管理")
    tabs.get_by_role("link", name="账号").click()
    page.get_by_role("link", name="添加账号").click()
    page.get_by_label("登录名").fill("lihua")
    page.get_by_label("显示名称").fill("宣传委员 李华")
    page.get_by_label("角色").select_option(label="发布员")
    page.get_by_label("所在组织（含其所有下级）").select_option(label="\u3000\u3000第一支部")
    page.get_by_role("button", name="添加账号").click()
    expect(page.get_by_role("heading", name="账号已添加")).to_be_visible()
    password = page.locator("#new-password").inner_text()
    assert len(password) >= 12

    page.get_by_role("link", name="查看账号").click()
    expect(page.get_by_text("发布员 · 第一支部")).to_be_visible()
    page.get_by_label("角色").select_option(label="党员")
    page.get_by_label("所在组织（含其所有下级）").select_option(label="\u3000\u3000第二支部")
    page.get_by_role("button", name="授予").click()
    expect(page.get_by_role("status")).to_have_text("已授予角色。")
    expect(page.get_by_text("党员 · 第二支部")).to_be_visible()
    expect(page.get_by_text(password)).to_have_count(0)  # shown once, never again

    user = session.scalars(select(User).where(User.login == "lihua")).one()
    assert sorted((g.role.value, g.org_id) for g in user.grants) == [
        ("member", tree.sibling.id),
        ("publisher", tree.branch.id),
    ]


def test_import_a_roster_read_the_report_and_import_again(
    server: str,  # noqa: F811
    page: Page,  # noqa: F811
    tree: Tree,
    session: Session,
    tmp_path: Path,
) -> None:
    headings = ["姓名", "身份证号", "组织", "电话", "入党日期"]
    good = [
        ["王芳", id_number(1), "第一支部", "13800138000", "2001-07-01"],
        ["张伟", id_number(2), "第二支部", "", ""],
    ]
    bad = tmp_path / "花名册（有误）.csv"
    bad.write_bytes(roster_csv([headings, *good, ["刘洋", "11010519491231002", "第三支部"]]))
    fixed = tmp_path / "花名册.csv"
    fixed.write_bytes(roster_csv([headings, *good, ["刘洋", id_number(3), "第一支部"]]))

    log_in(page, server, "adm")
    page.goto(f"{server}/admin/members")
    page.get_by_role("link", name="导入花名册").click()
    page.get_by_label("花名册文件").set_input_files(str(bad))
    page.get_by_role("button", name="导入", exact=True).click()
    report = page.locator("#import-errors")
    expect(report).to_contain_text("身份证号应为 18 位")
    expect(report).to_contain_text("您管理的组织中没有名为“第三支部”的组织。")
    expect(report.locator("tbody tr").first.locator("td").first).to_have_text("4")
    assert session.scalars(select(Member)).all() == []  # nothing half-imported

    page.get_by_label("花名册文件").set_input_files(str(fixed))
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator("#import-result")).to_contain_text("新增 3 名党员")

    page.get_by_label("花名册文件").set_input_files(str(fixed))
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator("#import-result")).to_contain_text("3 名党员无变化")

    tabs = page.get_by_role("navigation", name="管理")
    tabs.get_by_role("link", name="党员").click()
    expect(page.get_by_role("link", name="王芳")).to_be_visible()
    expect(page.get_by_text(id_number(1))).to_have_count(0)
    tabs.get_by_role("link", name="审计日志").click()
    expect(page.get_by_role("cell", name="导入花名册")).to_have_count(2)


def test_send_a_failed_text_message_again(
    page: Page,  # noqa: F811
    tree: Tree,
    session: Session,
    gateway: Gateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A text message the gateway refused, sent again from the deliveries log once the branch
    has put the member's phone number right; the server's own worker sends it."""
    member = make_user(session, "wangfang", Role.member, tree.branch)
    session.add(Member(org_id=tree.branch.id, name="王芳", id_number_hash="b" * 64,
                       id_number_masked="1101**********0012", phone="13900139000",
                       user_id=member.id))  # fmt: skip
    # As the notifier left it: the gateway refused the number it had then, for good.
    notice = Notice(user_id=member.id, category="c", title="学习提醒")
    notice.deliveries.append(
        Delivery(channel="sms", status=DeliveryStatus.failed, address="13800138000",
                 attempts=5, error="The SMS gateway refused the message: HTTP 400")
    )  # fmt: skip
    session.add(notice)
    session.commit()
    # A queue of its own: another test's server, with the channel off, must not take the job.
    settings = {"sms_enabled": "true", "sms_url": get_settings().sms_url, "sms_token": "t",
                "queue_url": f"sqlite:///{tmp_path / 'queue.db'}"}  # fmt: skip
    with running_server(**settings) as base:
        log_in(page, base, "adm")
        page.get_by_role("link", name="管理").click()
        page.get_by_role("navigation", name="管理").get_by_role("link", name="通知送达").click()
        expect(page.get_by_role("heading", name="通知送达")).to_be_visible()
        row = page.get_by_role("row").filter(has_text="学习提醒")
        expect(row).to_contain_text("发送失败")
        expect(row).to_contain_text("13800138000")
        row.get_by_role("button", name="重新发送").click()
        expect(page.get_by_role("status")).to_have_text("已排队重新发送。")
        expect(page.get_by_role("row").filter(has_text="学习提醒")).to_contain_text("13900139000")
        row = page.get_by_role("row").filter(has_text="学习提醒")
        for _ in range(100):  # the all-in-one server's worker sends it
            if "已送达" in row.inner_text():
                break
            page.wait_for_timeout(200)
            page.reload()
        expect(row).to_contain_text("已送达")
    assert [body["to"] for _headers, body in gateway.requests] == ["13900139000"]
