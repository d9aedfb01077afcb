"""The recommendation page in Chromium: a member fills in and sends their set, and the page, as
the member and as the chair (their own set, a paper set to enter, the round to close), passes
axe (AAA contrast) and the phone checks of the other pages."""

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import OrgKind, Role
from core.people.service import create_org
from streaming.elections.models import ElectionEntry
from streaming.elections.service import create_election, electorate_fact, record_fact
from tests.factories import make_user
from tests.streaming.test_election_recommend import member_of
from tests.web.test_accessibility import Survey, context_for, log_in  # noqa: F401
from tests.web.test_browser import browser, playwright, server  # noqa: F401

pytestmark = pytest.mark.browser


def test_a_member_recommends_in_the_browser_and_the_page_passes_the_survey(
    server: str,  # noqa: F811
    context_for: Callable[[str], BrowserContext],  # noqa: F811
    session: Session,
) -> None:
    branch = create_org(session=session, name="东村第一党支部", kind=OrgKind.branch)
    chair = make_user(session, "zhu", Role.member, branch)
    wang = make_user(session, "wang", Role.member, branch)
    member_of(session, branch, 1, chair)
    voter = member_of(session, branch, 2, wang)
    member_of(session, branch, 3, None)
    election = create_election(session=session, actor=chair, org=branch, title="委员选举")
    for kind, data in (
        ("electorate", electorate_fact(session=session, election=election)),
        ("venues", {"main": "东村党员活动室", "sub": [{"name": "村委会议室"}]}),
        ("recommendation_opened", {"names": 3}),
    ):
        record_fact(session=session, election=election, user=chair, kind=kind, data=data)
    session.commit()
    url = f"{server}/elections/{election.id}/recommend"
    survey = Survey()

    page = context_for("zh_CN").new_page()
    log_in(page, server, "wang")
    page.goto(url)
    survey.check(page, "member")
    form = page.locator("#recommend-form")
    form.locator("input[name=name]").nth(0).fill("陈建国")
    form.locator("input[name=name]").nth(1).fill("李秀兰")
    form.locator("button[type=submit]").click()
    expect(page.locator("#given li")).to_have_count(2)
    survey.check(page, "member, recommended")
    entry = session.scalars(
        select(ElectionEntry).where(ElectionEntry.kind == "recommendation")
    ).one()
    assert (entry.author, entry.data) == (
        "recommender",
        {"member": voter.id, "names": ["陈建国", "李秀兰"]},
    )

    page = context_for("zh_CN").new_page()
    log_in(page, server, "zhu")
    page.goto(url)
    expect(page.locator("#paper-form option")).to_have_count(3)  # 'choose', then two members
    expect(page.locator("#close-form")).to_have_count(1)
    survey.check(page, "chair")
    report = survey.axe + survey.targets + survey.topbar + survey.overflow
    assert not report, "\n".join(report)
