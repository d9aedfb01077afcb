"""The study API over HTTP as the player uses it (sendBeacon's text/plain, no CSRF header), a
restart of the application in the middle, and the transcript, ranking, corrections and CLI."""

import asyncio
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send
from typer.testing import CliRunner

from core.api import SESSION_TOKEN
from core.audit.models import AuditEntry
from core.db import utcnow
from core.people.models import Duty, Role
from terminals.credits.models import CreditEntry
from terminals.evidence.api import BEATS_PATH, BeatIntake
from terminals.evidence.models import PlaybackBeat, PlaybackSession
from tests.factories import Tree, log_in, make_course, make_lesson, make_tree, make_user
from tests.terminals.study import make_member
from web.app import create_app
from web.cli import app as cli

BEACON = {"Content-Type": "text/plain;charset=UTF-8"}


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "adm", Role.org_admin, tree.town)
    make_user(session, "far", Role.org_admin, tree.other)
    return tree


@pytest.fixture
def lesson_id(session: Session, tree: Tree) -> int:
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    course = make_course(session, publisher, tree.town, title="乡村振兴")
    return make_lesson(session, course, title="第一讲", duration=100.0, credit_hours=2.0).id


@pytest.fixture
def member_id(session: Session, tree: Tree) -> int:
    member, _user = make_member(session, tree.branch, "张三", 1, login="zhang", duty=Duty.secretary)
    make_member(session, tree.sibling, "李四", 2)
    return member.id


def start(client: TestClient, csrf: str, lesson_id: int, session: Session) -> str:
    """A playback session, back-dated 10 minutes so beats may claim that much wall time."""
    response = client.post(
        "/api/study/sessions", json={"lesson_id": lesson_id}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 201, response.text
    playback_id: str = response.json()["id"]
    session.execute(
        update(PlaybackSession)
        .where(PlaybackSession.id == playback_id)
        .values(started_at=utcnow() - timedelta(minutes=10))
    )
    session.commit()
    return playback_id


def beat(playback_id: str, seq: int, start: float, end: float, **extra: object) -> str:
    body = {
        "session_id": playback_id,
        "seq": seq,
        "clock": seq * 10.0,
        "position": end,
        "rate": 1,
        "visible": True,
        "intervals": [[start, end]],
    }
    return json.dumps(body | extra)


def test_beacons_earn_credit_once_across_a_restart(
    session: Session, lesson_id: int, member_id: int
) -> None:
    beats = [beat("", seq, (seq - 1) * 10.0, seq * 10.0) for seq in range(1, 11)]
    with TestClient(create_app()) as client:
        csrf = log_in(client, "zhang")
        playback_id = start(client, csrf, lesson_id, session)
        beats = [b.replace('"session_id": ""', f'"session_id": "{playback_id}"') for b in beats]
        for body in beats[:6]:
            response = client.post("/api/study/beats", content=body, headers=BEACON)
            assert response.status_code == 200 and response.json()["stored"], response.text
        cookies = dict(client.cookies)
    # A new application instance (a restart, or another web node) takes the replay.
    with TestClient(create_app(), cookies=cookies) as client:
        answers = [
            client.post("/api/study/beats", content=body, headers=BEACON).json()
            for body in reversed(beats)
        ]
        assert [a["duplicate"] for a in answers] == [False] * 4 + [True] * 6
        assert sum(1 for a in answers if a["awarded_hours"] == 2.0) == 1
        assert client.post("/api/study/beats", content=beats[0], headers=BEACON).json()["duplicate"]
        transcript = client.get(f"/api/members/{member_id}/transcript").json()
    assert session.scalar(select(func.count()).select_from(PlaybackBeat)) == 10
    assert session.scalar(select(func.count()).select_from(CreditEntry)) == 1
    assert transcript["earned"] == 2.0 and transcript["requirement"] == 56.0
    assert transcript["id_number_masked"].count("*") == 10
    (line,) = transcript["lessons"]
    assert line["coverage"] == 1.0 and line["played_seconds"] == 100.0
    assert line["sessions"][0]["beats"] == 10 and line["title"] == "第一讲"


def test_bad_beats_get_clear_errors_and_nothing_is_stored(
    client: TestClient, session: Session, lesson_id: int, member_id: int
) -> None:
    csrf = log_in(client, "zhang")
    playback_id = start(client, csrf, lesson_id, session)
    post = lambda body, **kw: client.post("/api/study/beats", content=body, **kw)  # noqa: E731
    assert post("not json", headers=BEACON).status_code == 422
    assert post(beat(playback_id, 0, 0, 10), headers=BEACON).status_code == 422
    assert post(beat(playback_id, 1, 10, 5), headers=BEACON).status_code == 422
    assert post(beat(playback_id, 1, 0, 10, speed=3), headers=BEACON).status_code == 422
    past_end = post(beat(playback_id, 1, 90, 150), headers=BEACON)
    assert past_end.status_code == 400 and "100" in past_end.json()["detail"]
    ahead = post(beat(playback_id, 1, 0, 10, clock=3600), headers=BEACON)
    assert ahead.status_code == 400
    foreign = post(beat(playback_id, 1, 0, 10), headers=BEACON | {"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    huge = post(" " * 70_000 + beat(playback_id, 1, 0, 10), headers=BEACON)
    assert huge.status_code == 413
    assert session.scalar(select(func.count()).select_from(PlaybackBeat)) == 0
    # The player's JSON (fetch with keepalive) is taken as well as the beacon's text.
    ok = post(beat(playback_id, 1, 0, 10), headers={"Content-Type": "application/json"})
    assert ok.status_code == 200 and ok.json()["credited_seconds"] == 10.0


def test_what_the_beat_intake_does_not_take_reaches_the_route_as_it_was_sent() -> None:
    """A body that came in pieces (and does not parse) goes on to the route piece by piece."""
    pieces: list[Message] = [
        {"type": "http.request", "body": b'{"seq": ', "more_body": True},
        {"type": "http.request", "body": b'"one"}', "more_body": False},
    ]
    seen: list[Message] = []
    sent: list[Message] = []

    async def route(_scope: Scope, receive: Receive, send: Send) -> None:
        while not seen or seen[-1].get("more_body"):
            seen.append(await receive())
        await send({"type": "http.response.start", "status": 422, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    incoming = iter(pieces)

    async def receive() -> Message:
        return next(incoming)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": BEATS_PATH,
        "headers": [],
        "scheme": "http",
        "server": ("testserver", 80),
        "query_string": b"",
        "session": {SESSION_TOKEN: "a-login"},
    }
    asyncio.run(BeatIntake(route)(scope, receive, send))
    assert seen == pieces and sent[0]["status"] == 422


def test_a_beat_to_an_ended_session_is_told_so(
    client: TestClient, session: Session, lesson_id: int, member_id: int
) -> None:
    csrf = log_in(client, "zhang")
    first = start(client, csrf, lesson_id, session)
    assert client.post("/api/study/beats", content=beat(first, 1, 0, 10), headers=BEACON).is_success
    start(client, csrf, lesson_id, session)  # another tab
    ended = client.post("/api/study/beats", content=beat(first, 2, 10, 20), headers=BEACON)
    assert ended.status_code == 409 and ended.json()["ended"] is True
    again = client.post("/api/study/beats", content=beat(first, 1, 0, 10), headers=BEACON)
    assert again.status_code == 200 and again.json()["duplicate"]


def test_corrections_ranking_and_the_cli(
    client: TestClient, session: Session, tree: Tree, member_id: int
) -> None:
    csrf = log_in(client, "adm")
    year = utcnow().year
    made = client.post(
        f"/api/members/{member_id}/credits/corrections",
        json={"hours": 8, "reason": "参加县委党校集中培训一天", "year": year},
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status_code == 201, made.text
    taken = client.post(
        f"/api/members/{member_id}/credits/corrections",
        json={"hours": -3, "reason": "重复登记", "corrects_id": made.json()["id"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert taken.status_code == 201
    for bad in ({"hours": 0, "reason": "x"}, {"hours": 1, "reason": "   "}):
        refused = client.post(
            f"/api/members/{member_id}/credits/corrections",
            json=bad,
            headers={"X-CSRF-Token": csrf},
        )
        assert refused.status_code == 400, refused.text
    assert (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "credit_corrected")
        )
        == 2
    )
    ranking = client.get(f"/api/orgs/{tree.town.id}/ranking?year={year}").json()
    assert [m["name"] for m in ranking["member_ranks"]] == ["张三", "李四"]
    assert ranking["member_ranks"][0]["hours"] == 5.0
    assert ranking["participation_rate"] == 0.5
    assert ranking["org_ranks"][0]["name"] == "村党总支"
    runner = CliRunner()
    shown = runner.invoke(
        cli, ["credits", "transcript", str(member_id), "--year", str(year), "--json", "--as", "adm"]
    )
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output.splitlines()[-1])
    assert record["total"] == 5.0 and [e["hours"] for e in record["entries"]] == [8.0, -3.0]
    refused = runner.invoke(cli, ["credits", "transcript", str(member_id), "--as", "far"])
    assert refused.exit_code == 1 and refused.output.strip() == f"党员 {member_id} 不存在。"
    page = client.get(f"/members/{member_id}/transcript?year={year}")
    assert page.status_code == 200 and "县委党校" in page.text
