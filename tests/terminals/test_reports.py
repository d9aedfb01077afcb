"""Report cards on real rows: a site's month from heartbeats and records, the monthly task
(stored once, idempotent, claimed by one worker), escalation up the ladder with notices
stored, the JSON API, rankings and the exports (opened with openpyxl)."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.jobs import run_due_recurring
from core.notify.models import Notice
from core.people.models import Member, OrgKind
from core.people.service import create_org
from terminals.credits.models import CreditEntry
from terminals.reports.cards import cards_of, month_report
from terminals.reports.closing import close_month, nearest_org, recipients
from terminals.reports.compliance import Level
from terminals.reports.evidence import site_month
from terminals.reports.models import SiteReportCard
from terminals.reports.rankings import rankings
from terminals.sites.models import Site, SiteStatus
from terminals.sync.models import SiteRecord
from tests.factories import log_in
from tests.terminals.reports_data import (
    World,
    full_month,
    group_session,
    heartbeat,
    local,
    make_world,
    played,
    record,
)

AFTER_NOVEMBER = date(2026, 12, 2)
FUTURE_SESSION = "00000000-0000-4000-8000-0000000000ff"


def test_site_month_merges_overlapping_players_and_counts_local_days(session: Session) -> None:
    world = make_world(session)
    site = world.site
    # Two players at once on the 5th: 09:00-10:30 and 10:00-11:00 count as two hours, not 2.5.
    played(session, site, local(date(2026, 11, 5), 9), 90)
    played(session, site, local(date(2026, 11, 5), 10), 60)
    # 23:30 local on the 9th to 00:30 on the 10th: half an hour on each day.
    played(session, site, local(date(2026, 11, 9), 23, 30), 60)
    # 00:30 local on 1 November is still 31 October in UTC: it belongs to November.
    heartbeat(session, site, local(date(2026, 11, 1), 0, 30))
    heartbeat(session, site, local(date(2026, 11, 1), 7))  # the same day again
    heartbeat(session, site, local(date(2026, 10, 31), 12))  # October: not counted
    group_session(session, site, local(date(2026, 11, 15), 14))
    group_session(session, site, local(date(2026, 11, 16), 14))
    # A record flagged as from the future is not trusted.
    record(
        session,
        site,
        "session",
        local(date(2026, 11, 20), 9),
        {
            "session_id": FUTURE_SESSION,
            "event": "started",
            "at": local(date(2026, 11, 20), 9).isoformat(),
        },
    )
    session.flush()
    session.execute(
        SiteRecord.__table__.update()  # type: ignore[attr-defined]
        .where(SiteRecord.body["session_id"].as_string() == FUTURE_SESSION)
        .values(flag="future")
    )
    session.commit()
    month = site_month(session, site, 2026, 11)
    assert month.minutes_by_day[date(2026, 11, 5)] == pytest.approx(120)
    assert month.minutes_by_day[date(2026, 11, 9)] == pytest.approx(30)
    assert month.minutes_by_day[date(2026, 11, 10)] == pytest.approx(30)
    assert month.group_sessions == 2
    assert month.open_days == {
        date(2026, 11, 1),
        date(2026, 11, 5),
        date(2026, 11, 9),
        date(2026, 11, 10),
        date(2026, 11, 15),
        date(2026, 11, 16),
    }


def test_a_full_month_is_met_and_a_running_month_is_pending(session: Session) -> None:
    world = make_world(session)
    full_month(session, world.site, 2026, 11)
    session.commit()
    card = cards_of(session, [world.site], 2026, 11, today=AFTER_NOVEMBER)[0]
    assert card.compliant and card.score == 1.0
    assert {row["verdict"] for row in card.results} == {"met"}
    assert card.minutes == pytest.approx(450)
    # A site that has only studied on the 5th, seen on the 16th: the 15th is short, the 25th
    # and the month's totals are not yet due.
    second = Site(code="500101001002", name="二村", org_id=world.tree.branch.id, tier="basic")
    second.status = SiteStatus.active
    session.add(second)
    session.flush()
    played(session, second, local(date(2026, 11, 5), 9), 95)
    session.commit()
    running = cards_of(session, [second], 2026, 11, today=date(2026, 11, 16))[0]
    verdicts = {(row["duty"], row["day"]): row["verdict"] for row in running.results}
    assert verdicts == {
        ("study_day", "2026-11-05"): "met",
        ("study_day", "2026-11-15"): "short",
        ("study_day", "2026-11-25"): "pending",
        ("other_days", None): "pending",
        ("group_sessions", None): "pending",
        ("open_days", None): "pending",
    }
    assert not running.closed and not running.compliant


def test_close_month_stores_each_card_once(session: Session) -> None:
    world = make_world(session)
    full_month(session, world.site, 2026, 11)
    idle = Site(code="500101001002", name="空站", org_id=world.tree.branch.id, tier="basic")
    idle.status = SiteStatus.approved
    unbuilt = Site(code="500101001003", name="未批", org_id=world.tree.branch.id, tier="basic")
    session.add_all([idle, unbuilt])
    session.commit()
    assert close_month(session, 2026, 11, today=date(2026, 11, 30)) == 0  # not over yet
    assert close_month(session, 2026, 11, today=AFTER_NOVEMBER) == 2
    session.commit()
    assert close_month(session, 2026, 11, today=AFTER_NOVEMBER) == 0
    session.commit()
    cards = {c.site_id: c for c in session.scalars(select(SiteReportCard))}
    assert set(cards) == {world.site.id, idle.id}
    assert cards[world.site.id].compliant and cards[world.site.id].escalated_to == []
    assert not cards[idle.id].compliant and cards[idle.id].escalated_to == ["site"]
    # Evidence arriving late does not change a stored card.
    played(session, idle, local(date(2026, 11, 5), 9), 90)
    session.commit()
    stored = cards_of(session, [idle], 2026, 11, today=AFTER_NOVEMBER)[0]
    assert stored.minutes == 0 and stored.closed


def test_the_recurring_task_closes_last_month_once(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import terminals.reports.tasks as tasks

    world = make_world(session)
    moment = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 on 1 December in China
    monkeypatch.setattr(tasks, "utcnow", lambda: moment)
    assert "reports.close_month" in run_due_recurring(now=moment)
    assert "reports.close_month" not in run_due_recurring(now=moment)
    session.expire_all()
    cards = session.scalars(select(SiteReportCard)).all()
    assert [(c.site_id, c.year, c.month) for c in cards] == [(world.site.id, 2026, 11)]
    notices = session.scalars(select(Notice).where(Notice.category == "site_report")).all()
    assert [(n.user_id, n.link) for n in notices] == [
        (world.users["runner"].id, "/site/report?month=2026-11")
    ]


def test_escalation_climbs_site_township_county_once_a_month(session: Session) -> None:
    world = make_world(session)
    runner, town, county = (world.users[k].id for k in ("runner", "adm", "county"))
    reached = []
    seen = 0
    for month in (9, 10, 11):
        close_month(session, 2026, month, today=AFTER_NOVEMBER)
        close_month(session, 2026, month, today=AFTER_NOVEMBER)  # again: nothing new
        session.commit()
        rows = session.scalars(
            select(Notice)
            .where(Notice.category == "site_report", Notice.id > seen)
            .order_by(Notice.id)
        ).all()
        reached.append(sorted(n.user_id for n in rows))
        seen = max([seen, *(n.id for n in rows)])
    assert reached == [[runner], sorted([runner, town]), sorted([runner, town, county])]
    links = {n.user_id: n.link for n in rows}
    assert links[runner] == "/site/report?month=2026-11"
    assert links[county] == f"/admin/reports/sites/{world.site.id}?month=2026-11"
    card = session.scalars(select(SiteReportCard).where(SiteReportCard.month == 11)).one()
    assert card.short_in_a_row == 3
    assert card.escalated_to == ["site", "township", "county"]
    # A compliant month breaks the run.
    full_month(session, world.site, 2026, 12)
    session.commit()
    close_month(session, 2026, 12, today=date(2027, 1, 3))
    session.commit()
    december = session.scalars(select(SiteReportCard).where(SiteReportCard.month == 12)).one()
    assert december.short_in_a_row == 0 and december.escalated_to == []
    assert session.scalar(select(func.count()).where(Notice.id > seen)) == 0


def test_township_is_the_nearest_committee_else_the_site_org(session: Session) -> None:
    world = make_world(session)
    assert nearest_org(session, world.site.org, OrgKind.committee).id == world.tree.town.id
    assert nearest_org(session, world.site.org, OrgKind.district).id == world.tree.district.id
    lone = create_org(session=session, name="独立支部", kind=OrgKind.branch)
    session.commit()
    assert nearest_org(session, lone, OrgKind.committee) is None
    site = Site(code="500101009999", name="独站", org_id=lone.id, tier="basic")
    site.status = SiteStatus.active
    session.add(site)
    session.commit()
    assert recipients(session, site, (Level.site, Level.township, Level.county)) == ([], [])


def test_month_report_and_rankings_in_scope(session: Session) -> None:
    world = make_world(session)
    full_month(session, world.site, 2026, 11)
    other = Site(code="500101001002", name="二村", org_id=world.tree.sibling.id, tier="premium")
    other.status = SiteStatus.active
    far = Site(code="510101001002", name="远处", org_id=world.tree.other.id, tier="basic")
    far.status = SiteStatus.active
    session.add_all([other, far])
    session.commit()
    report = month_report(session, world.users["adm"], 2026, 11, today=AFTER_NOVEMBER)
    assert [c.name for c in report.cards] == ["石桥村站点", "二村"]
    assert report.participation_rate == 0.5 and report.compliant == 1
    assert report.duty_counts()["group_sessions"] == {"met": 1, "short": 1, "pending": 0}
    found = rankings(
        session, world.users["adm"], 2026, 11, today=AFTER_NOVEMBER, org_id=world.tree.general.id
    )
    assert found is not None
    assert [row.card.name for row in found.sites] == ["石桥村站点", "二村"]
    assert [(r.name, r.participation_rate) for r in found.orgs] == [
        ("第一支部", 1.0),
        ("第二支部", 0.0),
    ]
    premium = month_report(
        session, world.users["adm"], 2026, 11, today=AFTER_NOVEMBER, tier="premium"
    )
    assert [c.name for c in premium.cards] == ["二村"]


def test_api_cards_and_card(client: TestClient, session: Session) -> None:
    world = make_world(session)
    full_month(session, world.site, 2026, 11)
    session.commit()
    log_in(client, "adm")
    body = client.get("/api/reports/cards?year=2026&month=11").json()
    assert body["sites"] == 1 and body["cards"][0]["code"] == "500101001001"
    assert body["participation_rate"] == 1.0
    assert client.get("/api/reports/cards?year=2026&month=13").status_code == 422
    assert client.get("/api/reports/cards?tier=gold").status_code == 400
    card = client.get(f"/api/reports/sites/{world.site.id}/card?year=2026&month=11").json()
    assert card["minutes"] == pytest.approx(450)
    assert [r["duty"] for r in card["results"]][:3] == ["study_day"] * 3
    log_in(client, "runner")
    own = client.get(f"/api/reports/sites/{world.site.id}/card?year=2026&month=11")
    assert own.status_code == 200
    page = client.get("/site/report?month=2026-11")
    assert page.status_code == 200 and "石桥村站点" in page.text


def test_exports_open_in_a_spreadsheet(client: TestClient, session: Session) -> None:
    world = make_world(session)
    full_month(session, world.site, 2026, 11)
    session.add(
        CreditEntry(
            member_id=_member(session, world).id,
            year=2026,
            source="manual",
            category="online",
            hours=2.5,
            occurred_at=local(date(2026, 11, 5), 9),
        )
    )
    session.commit()
    log_in(client, "adm")
    response = client.get("/admin/reports/export.xlsx?month=2026-11")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("站点", "编码", "等级", "组织")
    assert rows[1][0] == "石桥村站点" and rows[1][4] == "2026-11" and rows[1][5] == 100
    assert rows[1][7] == pytest.approx(450)
    text = client.get("/admin/reports/export.csv?month=2026-11").content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][0] == "站点" and table[1][1] == "500101001001"
    ranks = client.get(
        f"/admin/reports/rankings/export.xlsx?month=2026-11&org_id={world.tree.town.id}"
    )
    book = load_workbook(io.BytesIO(ranks.content))
    assert book.sheetnames == ["站点", "组织"]
    orgs = list(book["组织"].iter_rows(values_only=True))
    assert orgs[0][:3] == ("名次", "组织", "站点")
    assert orgs[1][1] == "村党总支" and orgs[1][8] == pytest.approx(2.5)
    assert client.get("/admin/reports/export.pdf").status_code == 404


def _member(session: Session, world: World) -> Member:
    member = Member(
        name="李明",
        id_number_hash="a" * 64,
        id_number_masked="110105********0011",
        org_id=world.tree.branch.id,
    )
    session.add(member)
    session.flush()
    return member
