"""The officers' console: tellers enter ballots twice over, a disagreement waits for a
scrutineer who settles it from the paper, the chair moves the procedure and announces; each
office is refused what is not its own, with the reason shown, and nobody enters after the count."""

import json
import queue
import re
import threading
import time
from contextlib import suppress
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.people.models import Role, User
from core.storage import get_store
from streaming.elections.live import snapshot_key
from streaming.elections.models import ElectionEntry
from streaming.elections.service import append, create_election, record_fact
from tests.factories import Tree, log_in, make_user
from tests.streaming.elections import CANDIDATES, election_at_count
from tests.streaming.test_room_browser import camera_browser, chair_in_room, meeting, new_page  # noqa: F401
from tests.terminals.study import make_member
from tests.web.test_browser import log_in as log_in_page
from tests.web.test_browser import playwright, server  # noqa: F401


@pytest.fixture
def officers(session: Session, tree: Tree) -> None:
    for login in ("zhu", "ji", "suan", "jian", "pang"):
        make_user(session, login, Role.member, tree.branch)
    session.commit()


def enter(client: TestClient, token: str, election_id: int, kind: str, **fields: str) -> str:
    response = client.post(
        f"/elections/{election_id}/console",
        data={"csrf_token": token, "kind": kind, **fields},
        follow_redirects=True,
    )
    return response.text


def ballot(number: int, **marks: str) -> dict[str, str]:
    return {"number": str(number), **{f"mark:{name}": mark for name, mark in marks.items()}}


def test_two_tellers_a_scrutineer_and_the_chair_count_and_announce(
    client: TestClient, session: Session, tree: Tree, officers: None
) -> None:
    zhu = session.scalars(select(User).where(User.login == "zhu")).one()
    election = election_at_count(session, tree.branch, zhu, venues={"主会场": 3})
    eid = election.id

    for login in ("ji", "suan"):
        token = log_in(client, login)
        page = enter(client, token, eid, "ballot", **ballot(1, 甲="o", 乙="o", 丙="x"))
        assert "Recorded." in page or "已记录" in page
        # ballot 2: the second teller reads 乙 as blank
        marks = {"甲": "o", "乙": "x" if login == "ji" else "", "丙": "o"}
        enter(client, token, eid, "ballot", **ballot(2, **marks))
        # ballot 3: three ○ for two seats — invalid, whoever enters it
        enter(client, token, eid, "ballot", **ballot(3, 甲="o", 乙="o", 丙="o"))
        client.post("/logout", data={"csrf_token": token})

    token = log_in(client, "ji")
    refused = client.post(
        f"/elections/{eid}/console", data={"csrf_token": token, "kind": "step", "step": "9"}
    )
    assert refused.status_code == 403 and "只有主持人可以记录此项（step）" in refused.text
    client.post("/logout", data={"csrf_token": token})

    token = log_in(client, "jian")
    console = client.get(f"/elections/{eid}/console").text
    assert re.search(r'class="held" data-number="2"', console)
    refused = client.post(
        f"/elections/{eid}/console",
        data={"csrf_token": token, "kind": "ballot", **ballot(4, 甲="o", 乙="x", 丙="x")},
    )
    assert refused.status_code == 403 and "只有计票人可以录入选票" in refused.text
    settled = enter(client, token, eid, "settlement", **ballot(2, 甲="o", 乙="x", 丙="o"))
    assert 'data-number="2"' not in settled.split("none-held")[0].split("Ballots the tellers")[-1]
    client.post("/logout", data={"csrf_token": token})

    standing = client.get(f"/api/elections/{eid}").json()
    assert standing["tally"]["votes"] == {"甲": 2, "乙": 1, "丙": 1}
    assert (standing["tally"]["valid"], standing["tally"]["invalid"]) == (2, 1)
    assert standing["tally"]["threshold"] == 2 and standing["tally"]["elected"] == ["甲"]

    token = log_in(client, "zhu")
    enter(client, token, eid, "step", step="9")
    enter(client, token, eid, "announced")
    client.post("/logout", data={"csrf_token": token})
    token = log_in(client, "suan")
    late = client.post(
        f"/elections/{eid}/console",
        data={"csrf_token": token, "kind": "ballot", **ballot(4, 甲="o", 乙="x", 丙="x")},
    )
    assert late.status_code == 403 and "当前步骤不能记录此项（ballot）" in late.text

    kinds = [
        e.kind
        for e in session.scalars(
            select(ElectionEntry)
            .where(ElectionEntry.election_id == eid)
            .order_by(ElectionEntry.seq)
        )
    ]
    assert kinds[-9:] == ["ballot"] * 6 + ["settlement", "step", "announced"]
    refusals = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "election_refused").order_by(AuditEntry.id)
    )
    assert [(a.actor_login, a.detail["kind"]) for a in refusals] == [
        ("ji", "step"),
        ("jian", "ballot"),
        ("suan", "ballot"),
    ]


def test_only_officers_open_the_console(
    client: TestClient, session: Session, tree: Tree, officers: None
) -> None:
    zhu = session.scalars(select(User).where(User.login == "zhu")).one()
    election = election_at_count(session, tree.branch, zhu)
    log_in(client, "pang")
    assert client.get(f"/elections/{election.id}/console").status_code == 403
    assert client.get(f"/elections/{election.id}").status_code == 200  # public: the page is


def test_each_change_reaches_the_viewers_of_another_node_within_a_second(
    server: str,  # noqa: F811
    session: Session,
    tree: Tree,
    officers: None,
) -> None:
    """The server is one web node, this test another: entries it appends reach the server's
    viewers through the database; a fact recorded through the server also rewrites the
    snapshot in storage that pages behind a CDN poll."""
    zhu = session.scalars(select(User).where(User.login == "zhu")).one()
    election = election_at_count(session, tree.branch, zhu)
    eid, last = election.id, session.scalar(select(func.max(ElectionEntry.seq)))
    messages: queue.Queue[dict[str, Any]] = queue.Queue()
    base = server

    def listen() -> None:
        with (
            suppress(httpx.HTTPError),  # the server stopped after the test
            httpx.stream("GET", f"{base}/api/elections/{eid}/live", timeout=30) as stream,
        ):
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["x-content-type-options"] == "nosniff"  # as every response
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    messages.put(json.loads(line.removeprefix("data: ")))

    threading.Thread(target=listen, daemon=True).start()
    assert messages.get(timeout=10)["seq"] == last  # the standing at once
    for number in range(1, 4):
        append(
            session,
            election,
            "ballot",
            "teller:ji",
            {"round": 1, "number": number, "marks": {"甲": "o", "乙": "x", "丙": ""}},
        )
        session.commit()
        shown = messages.get(timeout=1.0)  # within a second of the commit
        assert shown["seq"] == last + number
        assert shown["tally"]["held"] == 0 and shown["step"] == 8

    with httpx.Client(base_url=base) as officer:
        token = log_in(officer, "suan")  # type: ignore[arg-type]
        officer.post(
            f"/elections/{eid}/console",
            data={"csrf_token": token, "kind": "ballot", **ballot(1, 甲="o", 乙="x", 丙="")},
        )
    assert messages.get(timeout=1.0)["tally"]["votes"]["甲"] == 1
    store = get_store()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if store.exists(snapshot_key(eid)):
            snapshot = json.loads(store.get_bytes(snapshot_key(eid)))
            if snapshot["seq"] == last + 4:
                break
        time.sleep(0.1)
    else:
        raise AssertionError("the snapshot was not written")
    assert snapshot["tally"]["votes"] == {"甲": 1, "乙": 0, "丙": 0}

    # Entries that land together between two looks still reach the viewer one by one.
    for number in range(2, 5):
        marks = {"甲": "o", "乙": "x", "丙": ""}
        append(
            session,
            election,
            "ballot",
            "teller:suan",
            {"round": 1, "number": number, "marks": marks},
        )
    session.commit()
    shown = [messages.get(timeout=1.0) for _ in range(3)]
    assert [m["seq"] for m in shown] == [last + 5, last + 6, last + 7]
    assert [m["tally"]["votes"]["甲"] for m in shown] == [2, 3, 3]  # ballot 4 waits for ji

    # A non-public election's feed is for its organisation's accounts only, through the route.
    election.public = False
    session.commit()
    assert httpx.get(f"{base}/api/elections/{eid}/live").status_code == 404
    with httpx.Client(base_url=base) as member:
        log_in(member, "pang")  # type: ignore[arg-type]
        with member.stream("GET", f"/api/elections/{eid}/live", timeout=10) as stream:
            assert stream.status_code == 200
            assert stream.headers["x-content-type-options"] == "nosniff"
            first = next(line for line in stream.iter_lines() if line.startswith("data: "))
            assert json.loads(first.removeprefix("data: "))["seq"] == last + 7


@pytest.mark.browser
def test_the_watch_page_plays_the_program_and_shows_a_settled_ballot_within_a_second(
    server: str,  # noqa: F811
    camera_browser: Browser,  # noqa: F811
    session: Session,
    tree: Tree,
    officers: None,
) -> None:
    """Two tellers disagree on a ballot in their consoles, the scrutineer settles it, and an
    anonymous viewer of the public page, the meeting's broadcast playing, sees the bars move."""
    make_user(session, "adm", Role.org_admin, tree.town)
    make_member(session, tree.branch, "张主持", 1, login="chair")
    make_member(session, tree.branch, "马党员", 2, login="ma")
    event = meeting(session, tree)
    zhu = session.scalars(select(User).where(User.login == "zhu")).one()
    election = election_at_count(session, tree.branch, zhu, event_id=event.id)
    chair = chair_in_room(camera_browser, server, event)
    chair.get_by_role("button", name="开始会议").click()

    viewer = new_page(camera_browser, 1920, 1080)
    viewer.goto(f"{server}/elections/{election.id}")
    expect(viewer.locator("#steps li[aria-current=step]")).to_have_text("计票")
    viewer.wait_for_function(
        "() => document.getElementById('program').currentTime > 1", timeout=45_000
    )

    consoles = {}
    for login, marks in (("ji", ("o", "o", "x")), ("suan", ("o", "", "x"))):
        page = consoles[login] = new_page(camera_browser)
        log_in_page(page, server, login)
        page.goto(f"{server}/elections/{election.id}/console")
        for name, mark in zip(CANDIDATES, marks, strict=True):
            label = f"{name} {'空白' if not mark else {'o': '○ 赞成', 'x': '× 反对'}[mark]}"
            page.get_by_label(label, exact=True).check()
        page.get_by_role("button", name="录入选票").click()
        expect(page.get_by_role("status")).to_have_text("已记录。")
    expect(consoles["suan"].locator("#my-entries")).to_contain_text("待监票人裁定")

    scrutineer = new_page(camera_browser)
    log_in_page(scrutineer, server, "jian")
    scrutineer.goto(f"{server}/elections/{election.id}/console")
    held = scrutineer.locator("section.held[data-number='1']")
    expect(held).to_contain_text("ji")
    held.get_by_label(f"{CANDIDATES[1]} ○ 赞成", exact=True).check()  # the paper says ○
    expect(viewer.locator("#live-tally li[data-name='甲']")).to_have_attribute("data-votes", "0")
    with scrutineer.expect_response(lambda r: r.request.method == "POST"):
        held.get_by_role("button", name="裁定第 1 张选票").click()
    settled = time.monotonic()
    viewer.wait_for_function(
        "() => document.querySelector(\"#live-tally li[data-name='乙']\").dataset.votes === '1'",
        timeout=1500,
    )
    assert time.monotonic() - settled <= 1.0
    expect(viewer.locator("#live-tally li[data-name='甲'] .votes")).to_have_text("1 票")
    expect(viewer.locator("#valid")).to_have_text("1")
    assert viewer.evaluate("document.getElementById('program').currentTime") > 1
    expect(scrutineer.locator("#none-held")).to_be_visible()

    # The viewer, not logged in, asks a question; the chair puts it on screen from the room.
    viewer.get_by_label("您的提问").fill("当选后如何带领村民增收？")
    viewer.get_by_label("显示的称呼").fill("西湾村民")
    viewer.get_by_role("button", name="发送给主持人").click()
    expect(viewer.locator("#question-note")).to_have_text("已发送：由主持人决定哪些提问上屏。")
    waiting = chair.locator("#questions-waiting li", has_text="当选后如何带领村民增收？")
    waiting.get_by_role("button", name="上屏").click()
    expect(viewer.locator("#question-on-screen .question-text")).to_have_text(
        "当选后如何带领村民增收？"
    )
    expect(viewer.locator("#question-on-screen .asker")).to_have_text("西湾村民")

    # Pages behind a CDN read the same standing from storage (written at most once a second).
    shown = int(viewer.locator("#standing").get_attribute("data-seq") or 0)
    snapshot = get_store().get_bytes(snapshot_key(election.id))
    for _ in range(30):
        if json.loads(snapshot)["seq"] == shown:
            break
        viewer.wait_for_timeout(100)
        snapshot = get_store().get_bytes(snapshot_key(election.id))
    assert json.loads(snapshot)["tally"]["votes"] == {"甲": 1, "乙": 1, "丙": 0}
    chair.get_by_role("button", name="结束会议").click()  # the broadcast stops writing
    expect(chair.locator("#room-state")).to_have_text("主持人已结束会议。")
    for page in (viewer, chair, scrutineer, *consoles.values()):
        page.context.close()


def test_the_chair_takes_the_steps_and_a_venue_returning_too_many_ballots_voids_the_round(
    client: TestClient, session: Session, tree: Tree, officers: None
) -> None:
    zhu = session.scalars(select(User).where(User.login == "zhu")).one()
    election = create_election(session=session, actor=zhu, org=tree.branch, title="支部委员选举")
    for kind, data in (
        ("electorate", {"members": [1, 2, 3, 4, 5]}),
        ("venues", {"main": "主会场", "sub": [{"name": "分会场"}]}),
    ):
        record_fact(session=session, election=election, user=zhu, kind=kind, data=data)
    session.commit()
    eid = election.id
    token = log_in(client, "zhu")
    console = client.get(f"/elections/{eid}/console").text
    assert "进入第 1 步：出席与法定人数" in console
    enter(client, token, eid, "step", step="1")
    console = client.get(f"/elections/{eid}/console").text
    assert 'name="expected" type="number" min="0" required value="5"' in console  # 应到, derived
    refused = client.post(
        f"/elections/{eid}/console",
        data={"csrf_token": token, "kind": "step", "step": "2"},
    )
    assert refused.status_code == 403  # no roll yet: no quorum
    enter(client, token, eid, "roll", present="5", expected="5")
    for step, kind, fields in (
        (2, None, {}),
        (3, "officers", {"scrutineers": "jian", "tellers": "ji，suan"}),
        (4, "round_opened", {"candidates": "甲\n乙\n丙", "seats": "2", "basis": "present"}),
        (5, "ballots_issued", {"venue": "主会场", "count": "4"}),
        (6, None, {}),
        (7, "ballots_returned", {"venue": "分会场", "count": "1"}),  # none were issued there
    ):
        enter(client, token, eid, "step", step=str(step))
        if kind:
            page = enter(client, token, eid, kind, **fields)
            assert "已记录。" in page, page
    enter(client, token, eid, "ballots_issued", venue="分会场", count="0")
    console = client.get(f"/elections/{eid}/console").text
    assert "收回选票多于发出选票：分会场。本轮选举无效，须重新投票。" in console
    stuck = client.post(
        f"/elections/{eid}/console", data={"csrf_token": token, "kind": "step", "step": "8"}
    )
    assert (
        stuck.status_code == 403
        and "分会场收回的选票多于发出的选票：请宣布本轮无效。" in stuck.text
    )
    nameless = client.post(
        f"/elections/{eid}/console", data={"csrf_token": token, "kind": "round_void", "reason": ""}
    )
    assert nameless.status_code == 403
    enter(client, token, eid, "round_void", reason="分会场收回的选票多于发出的选票")
    standing = client.get(f"/api/elections/{eid}").json()
    assert standing["tally"]["void"] == "分会场收回的选票多于发出的选票"
    assert "进入第 1 步" in client.get(f"/elections/{eid}/console").text  # a new round
