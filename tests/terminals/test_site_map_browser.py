"""The site map in headless Chromium on a real server: the chart draws every located site under
the Content-Security-Policy, its tooltip and click lead to the site, the sites without
coordinates are listed beside it, and the page keeps its table when the chart cannot load."""

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy.orm import Session

from core.db import utcnow
from core.people.models import Role
from terminals.sites.models import Site, SiteDevice, SiteStatus
from tests.factories import make_tree, make_user
from tests.web.test_browser import browser, log_in, playwright, server  # noqa: F401

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
# Where to keep the screenshots for a person to look at (YUANJIAO_SCREENSHOTS), else tmp_path.
SHOTS = os.environ.get("YUANJIAO_SCREENSHOTS")

# Places in Chongqing and one in Guizhou: (name, code, state, longitude, latitude).
PLACES = [
    ("渝中区七星岗", "500103001001", "online", 106.55, 29.56),
    ("涪陵区江东", "500102001002", "online", 107.39, 29.70),
    ("万州区高笋塘", "500101001003", "offline", 108.40, 30.81),
    ("黔江区城西", "500114001004", "never", 108.77, 29.53),
    ("綦江区古南", "500110001005", "suspended", 106.65, 29.03),
    ("遵义市红花岗", "520302001006", "registered", 106.92, 27.69),
    ("巫山县龙门", "500237001007", "online", None, None),
    ("城口县葛城", "500229001008", "registered", None, None),
]
STATUS = {
    "online": SiteStatus.active,
    "offline": SiteStatus.active,
    "never": SiteStatus.approved,
    "suspended": SiteStatus.suspended,
    "registered": SiteStatus.registered,
}
SEEN = {"online": timedelta(minutes=1), "offline": timedelta(days=2), "suspended": timedelta(0)}


@pytest.fixture
def sites(session: Session) -> dict[str, Site]:
    tree = make_tree(session)
    make_user(session, "adm", Role.org_admin, tree.town)
    made = {}
    for name, code, state, lon, lat in PLACES:
        site = Site(
            code=code,
            name=name,
            org_id=tree.branch.id,
            tier="premium" if code.endswith("1") else "basic",
            status=STATUS[state],
            latitude=lat,
            longitude=lon,
        )
        session.add(site)
        session.flush()
        if state in SEEN:
            seen = utcnow() - SEEN[state]
            session.add(SiteDevice(site_id=site.id, token_hash=f"t{site.id}", last_seen_at=seen))
        made[code] = site
    session.commit()
    return made


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:  # noqa: F811
    """A Chinese page and the console's errors and warnings (the CSP's complaints among them)."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda note: problems.append(note.text) if note.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page, problems
    context.close()


# Runs in the page: the number of points of each series the chart holds, by series id.
POINTS = """() => {
  const chart = echarts.getInstanceByDom(document.getElementById("site-map-chart"));
  return Object.fromEntries(chart.getOption().series.map((s) => [s.id, s.data.length]));
}"""
# Runs in the page: where a site's coordinates are on the canvas, relative to the page.
PIXEL = """([lon, lat]) => {
  const holder = document.getElementById("site-map-chart");
  const [x, y] = echarts.getInstanceByDom(holder).convertToPixel({ geoIndex: 0 }, [lon, lat]);
  const box = holder.getBoundingClientRect();
  return [box.left + x, box.top + y];
}"""


def test_the_map_draws_every_located_site_and_lists_the_others(
    server: str,  # noqa: F811
    page: tuple[Page, list[str]],
    sites: dict[str, Site],
    tmp_path: Path,
) -> None:
    tab, problems = page
    log_in(tab, server, "adm")
    tab.goto(f"{server}/admin/sites/map")
    expect(tab.locator("#site-map[data-ready='1']")).to_have_count(1)
    expect(tab.locator("#site-map-chart canvas").first).to_be_visible()
    expect(tab.locator("#site-map")).to_have_attribute("data-region", "china")  # 50 and 52
    assert tab.evaluate(POINTS) == {
        "online": 2,
        "offline": 1,
        "never": 1,
        "registered": 1,
        "suspended": 1,
    }
    summary = tab.locator(".site-summary")
    expect(summary.locator("[data-count=total]")).to_have_text("8")
    expect(summary.locator("[data-count=online]")).to_have_text("3")
    expect(tab.locator("#site-map-status")).to_have_text("共 8 个站点的地图，其中 6 个有坐标。")
    unlocated = tab.get_by_role("complementary", name="没有坐标的站点")
    expect(unlocated.get_by_role("listitem")).to_have_count(2)
    expect(unlocated.get_by_role("link", name="巫山县龙门")).to_be_visible()
    expect(unlocated.get_by_role("listitem").filter(has_text="城口县葛城")).to_contain_text(
        "待审批"
    )

    # hovering a point tells the site; clicking it opens the site's page
    x, y = tab.evaluate(PIXEL, [106.55, 29.56])
    tab.mouse.move(x, y)
    tip = tab.locator(".site-tip")
    expect(tip).to_contain_text("渝中区七星岗")
    expect(tip).to_contain_text("500103001001")
    expect(tip).to_contain_text("精品")
    expect(tip).to_contain_text("第一支部")
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=shots / "site-map-1920.png")
    tab.set_viewport_size(PHONE)
    tab.evaluate("() => window.dispatchEvent(new Event('resize'))")
    tab.screenshot(path=shots / "site-map-390.png", full_page=True)
    assert tab.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    tab.set_viewport_size(DESKTOP)
    tab.evaluate("() => window.dispatchEvent(new Event('resize'))")
    x, y = tab.evaluate(PIXEL, [106.55, 29.56])
    tab.mouse.click(x, y)
    tab.wait_for_url(f"**/admin/sites/{sites['500103001001'].id}")

    # the legend hides a state
    tab.goto(f"{server}/admin/sites/map?state=online")
    expect(tab.locator("#site-map[data-ready='1']")).to_have_count(1)
    assert tab.evaluate(POINTS)["online"] == 2 and sum(tab.evaluate(POINTS).values()) == 2
    # those are all in Chongqing (codes 50...): its districts and counties are drawn
    expect(tab.locator("#site-map")).to_have_attribute("data-region", "chong_qing")
    tab.screenshot(path=shots / "site-map-province-1920.png")
    assert not [text for text in problems if "Content Security Policy" in text], problems
    assert not [text for text in problems if "site map" in text], problems


def test_without_the_chart_the_page_still_lists_every_site(
    server: str,  # noqa: F811
    page: tuple[Page, list[str]],
    sites: dict[str, Site],
) -> None:
    tab, _problems = page
    log_in(tab, server, "adm")

    def refuse(route: Route) -> None:
        route.abort()

    tab.route("**/vendor/echarts*", refuse)
    tab.goto(f"{server}/admin/sites/map")
    expect(tab.locator("#site-map-status")).to_have_text("地图无法绘制；站点列在下面的表格中。")
    expect(tab.locator("#site-map-chart")).to_be_hidden()
    rows = tab.locator("table.list tbody tr")
    expect(rows).to_have_count(8)
    expect(rows.filter(has_text="万州区高笋塘")).to_contain_text("离线")
