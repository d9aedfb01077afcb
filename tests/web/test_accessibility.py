"""Every page of the site, as every role, in both languages, at 1920×1080 and 390×844, in headless
Chromium: axe-core finds nothing at all, of any impact, with the AAA rule `color-contrast-enhanced`
turned on (text ≥ 7:1: terminal sites watch from across a room); on a phone every tap target
is at least 44×44 CSS px and the top bar stays one row; no page scrolls sideways.

axe-core comes from npm (`make test` installs it into node_modules) and is injected with
`add_init_script`, which the browser runs outside the page's Content-Security-Policy; the policy
itself stays in force, so the pages are checked as users get them. axe is never served by the site.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy.orm import Session

from core.db import utcnow
from core.localtime import local_date
from core.notify.models import Delivery, DeliveryStatus
from core.notify.service import NO_ADDRESS, notify
from core.people.members import register_member
from core.people.models import Member, Role, User
from core.settings import get_settings
from core.storage import get_store
from courseware.models import Lesson, LessonStatus, Visibility
from terminals.credits.ledger import correct_credit
from terminals.evidence.service import record_beat
from terminals.sites.assignments import assign_content
from terminals.sites.models import SiteDevice
from terminals.sites.photos import add_photo
from terminals.sites.service import SiteDetails, register_site_with_code
from terminals.sites.staff import grant_site_admin
from tests.factories import (
    PASSWORD,
    Tree,
    id_number,
    make_course,
    make_lesson,
    make_tree,
    make_user,
    roster_csv,
)
from tests.terminals.sites_data import tiny_png
from tests.terminals.study import LOGIN_TOKEN, begin, honest_beats

# The server and browser of the other browser tests.
from tests.web.test_browser import browser, playwright, server  # noqa: F401

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
# /docs is Swagger UI from npm, a reference for programmers rather than a page members use: its
# own markup (buttons inside buttons, pale method badges, small expanders) is not ours to change,
# so only the page around it is checked; its title is its own <h2>, so the page has no <h1>.
SWAGGER_UI = "#swagger-ui"
MIN_TARGET = 44  # CSS px, WCAG 2.5.5 (AAA); 2.5.8 asks 24

# Interactive elements a finger has to hit. Hidden ones (menu closed, display:none) are skipped.
TARGETS = (
    "a[href], button, input:not([type=hidden]), select, textarea, summary,"
    " [tabindex]:not([tabindex='-1'])"
)

# Runs in the page: each visible target smaller than 44×44, except links inside a paragraph of
# text, which WCAG 2.5.8 exempts as inline targets (the line height decides their size).
SMALL_TARGETS = """([selector, minimum, skip]) => {
  const visible = (el) => {
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return style.visibility !== "hidden" && box.width > 0 && box.height > 0;
  };
  const inline = (el) => {
    if (el.tagName !== "A" || getComputedStyle(el).display !== "inline") return false;
    const paragraph = el.parentElement.closest("p, dd, li.help-item");
    if (!paragraph) return false;
    let own = paragraph.textContent;
    for (const link of paragraph.querySelectorAll("a")) own = own.replace(link.textContent, "");
    return /[\\p{L}\\p{N}]/u.test(own);
  };
  const small = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!visible(el) || inline(el) || (skip && el.closest(skip))) continue;
    const box = el.getBoundingClientRect();
    if (box.width < minimum - 0.5 || box.height < minimum - 0.5) {
      const name = (el.getAttribute("aria-label") || el.textContent || el.name || el.type || "")
        .trim().replace(/\\s+/g, " ").slice(0, 40);
      const size = `${Math.round(box.width)}×${Math.round(box.height)}`;
      small.push(`${el.tagName.toLowerCase()} "${name}" ${size}`);
    }
  }
  return small;
}"""

# Runs in the page: the top bar's visible parts, when they do not all sit in one row.
TOPBAR_ROWS = """() => {
  const bar = document.querySelector(".topbar");
  if (!bar) return [];
  const parts = [...bar.querySelectorAll(".brand, .menu-button, nav > *")].filter((el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden";
  });
  const boxes = parts.map((el) => el.getBoundingClientRect());
  const top = Math.min(...boxes.map((b) => b.top));
  const bottom = Math.max(...boxes.map((b) => b.bottom));
  const tallest = Math.max(...boxes.map((b) => b.height));
  return bottom - top > tallest + 1
    ? parts.map((el, i) => `${el.textContent.trim().slice(0, 20)}@${Math.round(boxes[i].top)}`)
    : [];
}"""

AXE_RUN = """async (skip) => {
  const context = skip ? { exclude: [[skip]] } : document;
  const rules = { "color-contrast-enhanced": { enabled: true } };
  const result = await axe.run(context, { rules });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    nodes: v.nodes.slice(0, 4).map((n) => {
      const why = n.failureSummary.split("\\n").slice(1, 2).join("").trim();
      return `${n.target.join(" ")}: ${why}`;
    }),
    count: v.nodes.length,
  }));
}"""


@dataclass
class Survey:
    """What the walk found, one line per finding, by kind."""

    axe: list[str] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    topbar: list[str] = field(default_factory=list)
    overflow: list[str] = field(default_factory=list)
    pages: int = 0

    def check(self, page: Page, label: str, skip: str | None = None) -> None:
        """axe, then tap targets, top bar and overflow at phone width, at both sizes; `skip`
        names a part of the page that is not ours to check."""
        self.pages += 1
        for name, size in (("1920", DESKTOP), ("390", PHONE)):
            page.set_viewport_size(size)
            where = f"{label} @{name}"
            for violation in page.evaluate(AXE_RUN, skip):
                kind = f"{violation['id']} ({violation['impact']}, {violation['count']})"
                line = f"{where}: {kind} {violation['nodes']}"
                tolerated = skip and violation["id"] == "page-has-heading-one"
                (self.tolerated if tolerated else self.axe).append(line)
            self.topbar += [f"{where}: {rows}" for rows in [page.evaluate(TOPBAR_ROWS)] if rows]
            if size is PHONE:
                self.targets += [
                    f"{where}: {t}"
                    for t in page.evaluate(SMALL_TARGETS, [TARGETS, MIN_TARGET, skip])
                ]
                menu = page.locator(".menu-button")
                if menu.is_visible():
                    menu.click()
                    self.targets += [
                        f"{where} (menu open): {t}"
                        for t in page.evaluate(
                            SMALL_TARGETS, [".topbar nav a, .topbar nav button", MIN_TARGET, None]
                        )
                    ]
                    page.keyboard.press("Escape")
                wide = page.evaluate("() => document.documentElement.scrollWidth")
                if wide > PHONE["width"]:
                    self.overflow.append(f"{where}: {wide} px wide")
        page.set_viewport_size(DESKTOP)


@dataclass
class Site:
    """The seeded data the walk visits."""

    tree: Tree
    users: dict[str, User]
    course_id: int
    ready: int
    processing: int
    failed: int
    member_id: int
    notice_id: int = 0
    second_member_id: int = 0
    terminal_site: int = 0


def seed(session: Session) -> Site:
    """An org tree, one account per role, a course with a lesson in each state, two members."""
    tree = make_tree(session)
    users = {
        "member": make_user(session, "member", Role.member, tree.branch),
        "pub": make_user(session, "pub", Role.publisher, tree.town),
        "adm": make_user(session, "adm", Role.org_admin, tree.town),
        "root": make_user(session, "root", Role.platform_admin, tree.district),
    }
    course = make_course(session, users["pub"], tree.town, "党史学习", Visibility.public)
    ready = make_lesson(session, course, "第一课：建党初心", credit_hours=1)
    processing = make_lesson(session, course, "第二课：转码中", status=LessonStatus.processing)
    failed = make_lesson(session, course, "第三课：失败", status=LessonStatus.failed)
    failed.error = "The file could not be read as video."
    org_course = make_course(session, users["pub"], tree.branch, "支部内部课", Visibility.org)
    make_lesson(session, org_course, "内部学习")
    key = get_settings().id_hash_key
    member = register_member(
        session=session,
        actor=users["adm"],
        org_id=tree.branch.id,
        name="王芳",
        id_number=id_number(1),
        hash_key=key,
        phone="13800138000",
    )
    second = register_member(
        session=session,
        actor=users["adm"],
        org_id=tree.sibling.id,
        name="张伟",
        id_number=id_number(2),
        hash_key=key,
    )
    member.user_id = users["member"].id  # the member's own login (/me)
    notice = notify(
        session=session,
        recipients=[users["member"]],
        category="reminder",
        title="学习提醒：党史第一课",
        body="请在本月 25 日前完成学习。",
        link=f"/lessons/{ready.id}",
    )[0]
    notify(session=session, recipients=[users["member"]], category="c", title="支部会议通知")
    # Its text message and e-mail as the deliveries log shows them (the channels are off here).
    notice.deliveries += [
        Delivery(channel="sms", status=DeliveryStatus.failed, address="13800138000",
                 attempts=5, error="The SMS gateway refused the message: 400"),
        Delivery(channel="email", status=DeliveryStatus.skipped, address="",
                 error=NO_ADDRESS),
    ]  # fmt: skip
    session.commit()
    site = Site(tree, users, course.id, ready.id, processing.id, failed.id, member.id)
    site.notice_id, site.second_member_id = notice.id, second.id
    site.terminal_site = seed_terminal_site(session, tree, users, course.id)
    study(session, users, member.id, ready)
    return site


def study(session: Session, users: dict[str, User], member_id: int, lesson: Lesson) -> None:
    """The member (with the "member" login) plays the ready lesson through, and an admin adds
    a correction: the study record then has a lesson, sessions and entries to show."""
    session.get_one(Member, member_id).user_id = users["member"].id
    session.commit()
    started = utcnow() - timedelta(minutes=5)
    playback = begin(session, users["member"], lesson, at=started)
    for beat in honest_beats(playback, started=started):
        record_beat(
            session=session,
            user=users["member"],
            login_token=LOGIN_TOKEN,
            beat=beat.input,
            now=beat.at,
        )
    correct_credit(
        session=session,
        actor=users["adm"],
        member=session.get_one(Member, member_id),
        hours=4,
        reason="参加乡镇党校半天集中授课",
    )
    session.commit()


def seed_terminal_site(session: Session, tree: Tree, users: dict[str, User], course_id: int) -> int:
    """A terminal site run by the member, with a device, a photo and an assigned course."""
    site, _ = register_site_with_code(
        session=session,
        actor=users["adm"],
        org_id=tree.branch.id,
        code="500101001001",
        tier="premium",
        details=SiteDetails(
            name="石桥村远教站点",
            address="石桥村一组",
            latitude=29.56,
            longitude=106.55,
            download_windows=("22:00-06:00",),
            equipment=({"item": "电视机", "model": "TCL 55", "count": 1},),
            contacts=({"name": "张三", "phone": "13800138000", "role": "书记"},),
        ),
    )
    device = SiteDevice(site_id=site.id, token_hash="0" * 64, hostname="村委会电脑")
    session.add(device)
    grant_site_admin(session=session, actor=users["adm"], site_id=site.id, login="member")
    assign_content(session=session, actor=users["adm"], site_id=site.id, course_id=course_id)
    add_photo(
        session=session, store=get_store(), actor=users["adm"], site_id=site.id, data=tiny_png()
    )
    session.commit()
    seed_site_evidence(session, tree, device, course_id)
    return site.id


def seed_site_evidence(session: Session, tree: Tree, device: SiteDevice, course_id: int) -> None:
    """Heartbeats and one group session (roll call, playback, frames) uploaded by the site."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from courseware.models import Lesson
    from terminals.sessions.intake import receive_batch
    from terminals.sync.models import SiteHeartbeat
    from terminals.sync.schemas import BatchIn
    from tests.terminals.group_sessions import session_script
    from tests.terminals.study import make_member

    lessons = session.scalars(select(Lesson).where(Lesson.course_id == course_id)).all()
    full, part = lessons[0], lessons[-1]
    members = [make_member(session, tree.branch, name, 8800 + n)[0]
               for n, name in enumerate(("李明", "王芳", "赵强"))]  # fmt: skip
    now = datetime.now(UTC)
    for hour in range(12):
        session.add(
            SiteHeartbeat(
                site_id=device.site_id, device_id=device.id,
                received_at=now - timedelta(hours=12 - hour),
                powered_on_at=now - timedelta(hours=13), now_playing=full.id,
                disk_free_bytes=(60 - hour) * 10**9, agent_version="1.0.0",
            )
        )  # fmt: skip
    script = session_script(
        start=now - timedelta(hours=2), lesson_full=full.id, lesson_part=part.id,
        stayed=[members[0].id, members[1].id], left_early=[members[2].id],
        duration=float(full.duration or 12.0),
    )  # fmt: skip
    receive_batch(
        session=session,
        device=device,
        batch=BatchIn(agent_id=script.agent, sent_at=now, records=script.records),
    )
    session.commit()


@pytest.fixture
def context_for(browser: Browser) -> Iterator[Callable[[str], BrowserContext]]:  # noqa: F811
    """New browser contexts in a language, with axe-core loaded into every page."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` installs axe-core from npm")
    opened: list[BrowserContext] = []

    def open_context(locale: str) -> BrowserContext:
        context = browser.new_context(viewport=DESKTOP, locale=locale.replace("_", "-"))
        context.add_init_script(path=AXE)
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()


def log_in(page: Page, base: str, login: str, password: str = PASSWORD) -> None:
    """Log in through the form (in whatever language the page is)."""
    page.goto(f"{base}/login")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()
    if password == PASSWORD:
        expect(page.locator("form[action='/logout']")).to_have_count(1)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_page_passes_axe_aaa_contrast_and_phone_checks(
    server: str,  # noqa: F811
    context_for: Callable[[str], BrowserContext],
    session: Session,
    locale: str,
) -> None:
    site = seed(session)
    survey = Survey()

    def visit_as(
        login: str | None, paths: list[str], extra: Callable[[Page], None] | None = None
    ) -> None:
        context = context_for(locale)
        context.add_cookies([{"name": "lang", "value": locale, "url": server}])
        page = context.new_page()
        if login:
            log_in(page, server, login)
        for path in paths:
            page.goto(f"{server}{path}")
            if path == "/docs":  # Swagger UI draws the reference after the page has loaded
                expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=30_000)
            survey.check(
                page, f"{login or 'anonymous'} {path}", SWAGGER_UI if path == "/docs" else None
            )
        if extra:
            extra(page)
        context.close()

    def anonymous_extra(page: Page) -> None:
        log_in(page, server, "member", "wrong-password-1")
        survey.check(page, "anonymous /login (refused)")

    visit_as(
        None,
        [
            "/",
            "/?q=党史",
            f"/courses/{site.course_id}",
            f"/lessons/{site.ready}",
            "/login",
            "/docs",
            "/courses/999999",
            "/activate",
        ],
        anonymous_extra,
    )
    visit_as(
        "member",
        [
            "/",
            f"/courses/{site.course_id}",
            f"/lessons/{site.ready}",
            "/account/password",
            "/upload",
            "/me",
            "/notices",
            f"/notices/{site.notice_id}",
            "/notices",
            "/my/study",
            "/site",
        ],
    )
    visit_as(
        "pub",
        [
            "/upload",
            f"/courses/{site.course_id}",
            f"/lessons/{site.ready}",
            f"/lessons/{site.processing}",
            f"/lessons/{site.failed}",
        ],
    )

    def admin_extra(page: Page) -> None:
        page.goto(f"{server}/admin/users/new")
        page.locator("input[name=login]").fill("lihua")
        page.locator("select[name=org_id]").select_option(str(site.tree.branch.id))
        page.locator("form[action='/admin/users'] button[type=submit]").click()
        expect(page.locator("#new-password")).to_be_visible()
        survey.check(page, "adm user created")
        page.goto(f"{server}/admin/members/import")
        bad = [["姓名", "身份证号", "组织"], ["刘洋", "11010519491231002", "第三支部"]]
        page.locator("input[type=file]").set_input_files(
            files=[{"name": "roster.csv", "mimeType": "text/csv", "buffer": roster_csv(bad)}]
        )
        page.locator("form[action='/admin/members/import'] button:not([name])").click()
        expect(page.locator("#import-errors")).to_be_visible()
        survey.check(page, "adm import report")
        page.goto(f"{server}/admin/plans")
        page.locator("input[name=title]").fill("七一专题学习")
        page.locator("form[action='/admin/plans'] select[name=org_id]").select_option(
            str(site.tree.town.id)
        )
        page.locator("input[name=deadline]").fill("2099-07-01")
        page.locator("input[name=course_ids]").first.check()
        page.locator("form[action='/admin/plans'] button[type=submit]").click()
        expect(page.locator("h1")).to_have_text("七一专题学习")
        survey.check(page, "adm study plan set")
        page.goto(f"{server}/admin/audit")
        survey.check(page, "adm /admin/audit (with entries)")
        page.goto(f"{server}/admin/members/{site.second_member_id}")
        page.locator("form[action$='/invitation'] button").click()
        expect(page.locator("#invitation-sheet")).to_be_visible()
        survey.check(page, "adm invitation sheet")
        page.goto(f"{server}/admin/members/{site.second_member_id}")
        page.locator("form[action$='/login'] button").click()
        expect(page.locator("#new-password")).to_be_visible()
        survey.check(page, "adm member login created")
        page.goto(f"{server}/admin/sites/{site.terminal_site}")
        page.locator("form[action$='/code'] button").click()
        expect(page.locator("#enrolment-code")).to_be_visible()
        survey.check(page, "adm site with a new enrolment code")
        page.goto(f"{server}/admin/sites/new")
        page.locator("input[name=name]").fill("新站")
        page.locator("input[name=code]").fill("12")
        page.locator("select[name=org_id]").select_option(str(site.tree.branch.id))
        page.locator("form[action='/admin/sites'] button[type=submit]").click()
        expect(page.locator("[role=alert]")).to_be_visible()
        survey.check(page, "adm site form refused")

    visit_as(
        "adm",
        [
            "/admin/orgs",
            f"/admin/orgs/{site.tree.town.id}",
            "/admin/users",
            "/admin/users/new",
            f"/admin/users/{site.users['member'].id}",
            "/admin/members",
            "/admin/members/new",
            f"/admin/members/{site.member_id}",
            "/admin/members/import",
            "/admin/plans",
            "/admin/invitations",
            "/admin/notices",
            f"/members/{site.member_id}/transcript",
            "/admin/sites",
            "/admin/sites?status=registered&sort=last_seen&desc=1",
            "/admin/sites/new",
            "/admin/sites/assignments",
            f"/admin/sites/{site.terminal_site}",
            f"/admin/sites/{site.terminal_site}/edit",
        ],
        admin_extra,
    )
    visit_as(
        "root",
        [
            "/",
            "/admin/orgs",
            f"/admin/orgs/{site.tree.district.id}",
            "/admin/users",
            "/admin/audit",
            f"/lessons/{site.ready}",
            "/site",
        ],
    )

    report = "\n".join(
        [f"[axe] {line}" for line in survey.axe]
        + [f"[tap target < 44 px] {line}" for line in survey.targets]
        + [f"[top bar wraps] {line}" for line in survey.topbar]
        + [f"[scrolls sideways] {line}" for line in survey.overflow]
    )
    assert all("/docs" in line for line in survey.tolerated), survey.tolerated
    assert survey.pages >= 30
    assert not report, f"{report.count(chr(10)) + 1} findings:\n{report}"


def test_menu_button_works_from_the_keyboard(
    server: str,  # noqa: F811
    context_for: Callable[[str], BrowserContext],
    session: Session,
) -> None:
    make_user(session, "root", Role.platform_admin, make_tree(session).district)
    page = context_for("zh_CN").new_page()
    page.set_viewport_size(PHONE)
    log_in(page, server, "root")
    menu = page.get_by_role("button", name="菜单")
    links = page.get_by_role("navigation", name="菜单")
    expect(links).to_be_hidden()
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(links.get_by_role("link", name="管理")).to_be_visible()
    assert page.evaluate(AXE_RUN, None) == []  # the open menu passes too
    page.keyboard.press("Tab")
    expect(links.get_by_role("link", name="课程目录")).to_be_focused()
    page.keyboard.press("Escape")
    expect(links).to_be_hidden()
    expect(menu).to_be_focused()
    page.keyboard.press("Space")
    expect(links.get_by_role("button", name="退出")).to_be_visible()

    page.set_viewport_size(DESKTOP)  # wide screens show the links and no menu button
    expect(menu).to_be_hidden()
    expect(page.get_by_role("link", name="管理")).to_be_visible()


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_site_map_passes_axe_aaa_contrast_and_phone_checks(
    server: str,  # noqa: F811
    context_for: Callable[[str], BrowserContext],
    session: Session,
    locale: str,
) -> None:
    """The site map (terminals/sites/map.py) once its chart has drawn, with a site on the map
    and one without coordinates, and with a filter that leaves none."""
    from terminals.sites.models import Site, SiteStatus

    tree = make_tree(session)
    make_user(session, "adm", Role.org_admin, tree.town)
    session.add_all(
        [
            Site(
                code="500103001001",
                name="七星岗",
                org_id=tree.branch.id,
                tier="premium",
                status=SiteStatus.approved,
                latitude=29.56,
                longitude=106.55,
            ),
            Site(code="500229001002", name="葛城", org_id=tree.town.id, tier="basic"),
        ]
    )
    session.commit()
    survey = Survey()
    context = context_for(locale)
    context.add_cookies([{"name": "lang", "value": locale, "url": server}])
    page = context.new_page()
    log_in(page, server, "adm")
    for path in ("/admin/sites/map", "/admin/sites/map?state=suspended"):
        page.goto(f"{server}{path}")
        expect(page.locator("#site-map[data-ready='1']")).to_have_count(1)
        survey.check(page, f"adm {path}")
    report = survey.axe + survey.targets + survey.topbar + survey.overflow
    assert not report, "\n".join(report)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_report_pages_pass_axe_aaa_contrast_and_phone_checks(
    server: str,  # noqa: F811
    context_for: Callable[[str], BrowserContext],
    session: Session,
    locale: str,
) -> None:
    """The report cards with their chart drawn, the rankings, one site's card (org admin) and
    the site administrator's own card (terminals/reports/pages.py)."""
    from tests.terminals.reports_data import heartbeat, local, make_world, played

    world = make_world(session)
    today = local_date(utcnow())
    played(session, world.site, local(today.replace(day=1), 9), 100)
    heartbeat(session, world.site, local(today.replace(day=1), 8))
    session.commit()
    survey = Survey()
    for login, paths in (
        (
            "adm",
            [
                "/admin/reports",
                "/admin/reports/rankings",
                f"/admin/reports/sites/{world.site.id}",
            ],
        ),
        ("runner", ["/site/report"]),
    ):
        context = context_for(locale)
        context.add_cookies([{"name": "lang", "value": locale, "url": server}])
        page = context.new_page()
        log_in(page, server, login)
        for path in paths:
            page.goto(f"{server}{path}")
            if path in ("/admin/reports", "/admin/reports/rankings"):
                expect(page.locator("#report-chart[data-drawn='true']")).to_have_count(1)
            survey.check(page, f"{login} {path}")
        context.close()
    report = survey.axe + survey.targets + survey.topbar + survey.overflow
    assert not report, "\n".join(report)


@pytest.mark.parametrize("locale", ["zh_CN"])  # CI's time: English layouts are alike
def test_event_pages_pass_axe_aaa_contrast_and_phone_checks(
    server: str,  # noqa: F811
    context_for: Callable[[str], BrowserContext],
    session: Session,
    locale: str,
) -> None:
    """The meetings list with its form, an event, its room as the chair (console, roll with
    controls) and as a member waiting in the lobby, the broadcast page and the minutes
    (streaming/congress/pages.py); the elections, an election's public page, its result report
    and its console as the chair, a teller and a scrutineer (streaming/elections/pages.py)."""
    from streaming.congress.models import Attendance, EventKind, EventRole, EventStatus, LogEntry
    from streaming.congress.rules import Level
    from streaming.congress.service import create_event
    from streaming.elections.service import append
    from tests.streaming.elections import election_at_count
    from tests.terminals.study import make_member

    tree = make_tree(session)
    adm = make_user(session, "adm", Role.org_admin, tree.town)
    people = [
        make_member(session, tree.branch, name, n, login=login)[0]
        for n, (login, name) in enumerate((("chair", "张主持"), ("ma", "马党员")), 1)
    ]
    roles = {people[0].id: EventRole.chair, people[1].id: EventRole.participant}
    events = [
        create_event(
            session=session,
            actor=adm,
            org_id=tree.branch.id,
            title=title,
            kind=EventKind.meeting,
            level=Level.grassroots,
            starts_at=utcnow() + timedelta(days=1),
            planned_minutes=60,
            agenda=["审议报告", "表决"],
            invitees=roles,
            credit_hours=1,
        )
        for title in ("支部党员大会", "上月党员大会")
    ]
    held = events[1]
    held.status, held.started_at, held.ended_at = (
        EventStatus.ended,
        utcnow() - timedelta(hours=2),
        utcnow() - timedelta(hours=1),
    )
    session.add(
        Attendance(
            event_id=held.id,
            member_id=people[1].id,
            name="马党员",
            joined_at=held.started_at,
            left_at=held.ended_at,
        )
    )
    session.add(LogEntry(event_id=held.id, kind="started", actor="张主持"))
    for login in ("ji", "suan", "jian"):
        make_user(session, login, Role.member, tree.branch)
    election = election_at_count(session, tree.branch, adm)
    for number, second in ((1, "o"), (2, "x")):  # the tellers disagree on ballot 2
        for teller, mark in (("ji", "o"), ("suan", second)):
            marks = {"round": 1, "number": number, "marks": {"甲": "o", "乙": mark, "丙": "x"}}
            append(session, election, "ballot", f"teller:{teller}", marks)
    session.commit()
    survey = Survey()
    waiting = context_for(locale)  # ma waits in the lobby while the chair's console is checked
    lobby = waiting.new_page()
    log_in(lobby, server, "ma")
    lobby.goto(f"{server}/events/{events[0].id}/room")
    for login, paths in (
        (
            "adm",
            [
                "/events",
                f"/events/{events[0].id}",
                f"/events/{held.id}/minutes",
                "/elections",
                f"/elections/{election.id}",
                f"/elections/{election.id}/report",
                f"/elections/{election.id}/console",
            ],
        ),
        ("ji", [f"/elections/{election.id}/console"]),
        ("jian", [f"/elections/{election.id}/console"]),
        ("chair", [f"/events/{events[0].id}/room"]),
        ("ma", [f"/events/{events[0].id}/room", f"/events/{events[0].id}/watch"]),
    ):
        context = context_for(locale)
        context.add_cookies([{"name": "lang", "value": locale, "url": server}])
        page = context.new_page()
        log_in(page, server, login)
        for path in paths:
            page.goto(f"{server}{path}")
            if path.endswith("/room"):  # the meeting's state has arrived
                expect(page.locator("#roll-figures")).not_to_be_empty()
            if login == "chair":
                admit = "准入" if locale == "zh_CN" else "Admit"
                expect(page.get_by_role("button", name=admit, exact=True)).to_be_visible()
            survey.check(page, f"{login} {path}")
        context.close()
    waiting.close()
    report = survey.axe + survey.targets + survey.topbar + survey.overflow
    assert not report, "\n".join(report)
