"""The report pages in headless Chromium on a real server: the month's chart and the rankings
chart draw under the Content-Security-Policy, the figures match the table, the site
administrator sees their own card; screenshots at desktop and phone width."""

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from core.db import utcnow
from core.localtime import local_date
from terminals.sites.models import Site, SiteStatus
from tests.terminals.reports_data import World, heartbeat, local, make_world, played
from tests.web.test_browser import browser, log_in, playwright, server  # noqa: F401

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("YUANJIAO_SCREENSHOTS")
# Runs in the page: the series names and bar counts the chart holds.
SERIES = """() => {
  const chart = echarts.getInstanceByDom(document.getElementById("report-chart-area"));
  return chart.getOption().series.map((s) => [s.name, s.data.length]);
}"""


@pytest.fixture
def world(session: Session) -> World:
    made = make_world(session)
    today = local_date(utcnow())
    day = date(today.year, today.month, 1)
    played(session, made.site, local(day, 9), 100)
    heartbeat(session, made.site, local(day, 8))
    second = Site(code="500101001002", name="二村站点", org_id=made.tree.sibling.id, tier="premium")
    second.status = SiteStatus.approved
    session.add(second)
    session.commit()
    return made


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda note: problems.append(note.text) if note.type == "error" else None)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    yield tab, problems
    context.close()


def test_report_and_rankings_charts_draw(
    server: str,  # noqa: F811
    page: tuple[Page, list[str]],
    world: World,
    tmp_path: Path,
) -> None:
    tab, problems = page
    shots = Path(SHOTS) if SHOTS else tmp_path
    log_in(tab, server, "adm")
    tab.goto(f"{server}/admin/reports")
    expect(tab.locator("#report-chart[data-drawn='true']")).to_have_count(1)
    expect(tab.locator("#report-chart-area canvas").first).to_be_visible()
    assert tab.evaluate(SERIES) == [["达标", 4], ["未达标", 4], ["待定", 4]]
    expect(tab.locator("[data-count=sites]")).to_have_text("2")
    expect(tab.locator("[data-count=rate]")).to_have_text("50.0%")
    expect(tab.get_by_role("link", name="石桥村站点")).to_be_visible()
    tab.screenshot(path=str(shots / "reports-1920.png"), full_page=True)
    tab.set_viewport_size({"width": 390, "height": 844})
    tab.reload()
    expect(tab.locator("#report-chart[data-drawn='true']")).to_have_count(1)
    tab.screenshot(path=str(shots / "reports-390.png"), full_page=True)
    tab.set_viewport_size({"width": 1920, "height": 1080})

    tab.get_by_role("link", name="动态排名").first.click()
    expect(tab.locator("#report-chart[data-drawn='true']")).to_have_count(1)
    assert tab.evaluate(SERIES) == [["参学率（%）", 1]]
    tab.screenshot(path=str(shots / "rankings-1920.png"), full_page=True)

    tab.goto(f"{server}/admin/reports/sites/{world.site.id}")
    expect(tab.locator("table.report-card tbody tr")).to_have_count(6)
    tab.screenshot(path=str(shots / "site-card-1920.png"), full_page=True)
    assert not problems, problems


def test_the_site_administrator_reads_their_card(
    server: str,  # noqa: F811
    page: tuple[Page, list[str]],
    world: World,
    tmp_path: Path,
) -> None:
    tab, problems = page
    shots = Path(SHOTS) if SHOTS else tmp_path
    log_in(tab, server, "runner")
    tab.goto(f"{server}/site")
    tab.get_by_role("link", name="本月月报卡").first.click()
    expect(tab.get_by_role("heading", name="石桥村站点")).to_be_visible()
    expect(tab.locator("table.report-card tbody tr")).to_have_count(6)
    tab.set_viewport_size({"width": 390, "height": 844})
    tab.screenshot(path=str(shots / "own-card-390.png"), full_page=True)
    assert not problems, problems
