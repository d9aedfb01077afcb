"""An org admin in headless Chromium registers a site from the pages, reads its one-time
enrolment code, assigns a course to it, and finds it in the filtered list."""

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Role
from terminals.sites.models import Site, SiteAssignment
from terminals.sites.service import hash_code
from tests.factories import Tree, make_course, make_lesson, make_tree, make_user

# The server, browser and login helper of the other browser tests.
from tests.web.test_browser import browser, log_in, page, playwright, server  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "adm", Role.org_admin, tree.town)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    make_lesson(session, make_course(session, publisher, tree.town, "乡村振兴专题党课"))
    return tree


def test_register_a_site_and_assign_a_course(
    server: str,  # noqa: F811
    page: Page,  # noqa: F811
    tree: Tree,
    session: Session,
) -> None:
    log_in(page, server, "adm")
    page.get_by_role("navigation", name="菜单").get_by_role("link", name="站点").click()
    expect(page.get_by_role("heading", name="终端站点")).to_be_visible()
    page.get_by_role("link", name="登记站点").click()

    page.get_by_label("站点名称").fill("石桥村远教站点")
    page.get_by_label("行政区划代码").fill("5001010010")  # two digits short
    page.get_by_label("所属组织").select_option(label="\u3000\u3000\u3000第一支部")
    page.get_by_label("等级").select_option(label="示范")
    page.get_by_label("接收方式").select_option(label="卫星")
    page.get_by_label("下载时段").fill("22:00-06:00")
    page.get_by_role("button", name="登记站点").click()
    expect(page.get_by_role("alert")).to_contain_text("不是有效的行政区划代码")
    expect(page.get_by_label("站点名称")).to_have_value("石桥村远教站点")  # nothing lost
    page.get_by_label("行政区划代码").fill("500101001001")
    page.get_by_role("button", name="登记站点").click()

    expect(page.get_by_role("heading", name=re.compile("石桥村远教站点"))).to_be_visible()
    code = page.locator("#enrolment-code").inner_text()
    assert re.fullmatch(r"([A-Z2-9]{4}-){3}[A-Z2-9]{4}", code)
    site = session.scalars(select(Site)).one()
    assert site.enrolment_code_hash == hash_code(code)
    assert (site.tier, site.build_mode.value, site.download_windows) == (
        "demonstration",
        "satellite",
        ["22:00-06:00"],
    )

    page.get_by_label("课程或课时").select_option(label="整门课程：乡村振兴专题党课")
    page.get_by_role("button", name="分配", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("已分配。")
    row = page.get_by_role("row", name=re.compile("乡村振兴专题党课"))
    expect(row).to_contain_text("本站点")
    expect(page.get_by_text(code)).to_have_count(0)  # the code is shown once, never again

    assignment = session.scalars(select(SiteAssignment)).one()
    assert (assignment.site_id, assignment.lesson_id) == (site.id, None)

    page.get_by_role("link", name="站点", exact=True).first.click()
    page.get_by_label("连接").select_option(label="从未连接")
    page.locator("select[name=tier]").select_option(label="示范")
    page.get_by_role("button", name="筛选").click()
    expect(page.get_by_role("link", name="石桥村远教站点")).to_be_visible()
    page.get_by_role("link", name="编码").click()
    expect(page.get_by_role("link", name=re.compile("编码"))).to_contain_text("升序")
