"""Events: scheduling (service, command line), who sees them, who enters their room as what,
and the room's signalling refusing whoever may not enter."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from core.audit.models import AuditEntry
from core.errors import InvalidInput, PermissionDenied
from core.i18n import error_text
from core.notify.models import Notice
from core.people.models import Member, User
from core.settings import Settings
from streaming.congress.invitations import INVITATION, REMINDER, send_reminders
from streaming.congress.models import Event, EventKind, EventRole, EventStatus
from streaming.congress.rules import Level
from streaming.congress.service import attendee, create_event, get_event, visible_events
from streaming.media.turn import turn_server
from tests.factories import Tree, log_in
from web.cli import app as cli

runner = CliRunner()
SOON = datetime.now(UTC) + timedelta(days=1)


def user(session: Session, login: str) -> User:
    return session.scalars(select(User).where(User.login == login)).one()


def schedule(session: Session, tree: Tree, people: dict[str, Member], **change: object) -> Event:
    values: dict[str, object] = {
        "org_id": tree.general.id,
        "title": "村党总支党员大会",
        "kind": EventKind.meeting,
        "level": Level.grassroots,
        "starts_at": SOON,
        "planned_minutes": 90,
        "agenda": ["审议工作报告", "", "表决"],
        "invitees": {
            people["chair"].id: EventRole.chair,
            people["ma"].id: EventRole.participant,
            people["niu"].id: EventRole.observer,
        },
    }
    values.update(change)
    event = create_event(session=session, actor=user(session, "adm"), **values)  # type: ignore[arg-type]
    session.commit()
    return event


def test_an_admin_schedules_an_event_with_its_agenda_and_roles(
    session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    assert [item.title for item in event.agenda] == ["审议工作报告", "表决"]
    assert {i.member_id: i.role for i in event.invitations} == {
        people["chair"].id: EventRole.chair,
        people["ma"].id: EventRole.participant,
        people["niu"].id: EventRole.observer,
    }
    assert event.status is EventStatus.scheduled
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "event_created")).one()
    assert entry.target_id == str(event.id) and entry.detail["invited"] == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"invitees": {}}, "主持人"),
        ({"starts_at": datetime.now(UTC) - timedelta(hours=1)}, "已过"),
        ({"planned_minutes": 2}, "5 分钟"),
        ({"title": "  "}, "标题"),
        ({"agenda": ["议程"] * 51}, "50"),
    ],
)
def test_a_bad_schedule_is_refused_with_its_reason(
    session: Session, tree: Tree, people: dict[str, Member], change: dict, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        schedule(session, tree, people, **change)
    assert message in error_text("zh_CN", refused.value)


def test_members_and_sites_outside_the_subtree_cannot_be_invited(
    session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    with pytest.raises(InvalidInput):
        schedule(
            session,
            tree,
            people,
            invitees={people["chair"].id: EventRole.chair, people["outsider"].id: "participant"},
        )
    with pytest.raises(InvalidInput):
        schedule(session, tree, people, site_ids=[999])
    with pytest.raises(PermissionDenied):
        schedule(session, tree, people, org_id=tree.other.id)


def test_who_sees_an_event_and_as_what(
    session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    seen = {
        login: [e.id for e in session.scalars(visible_events(user(session, login)))]
        for login in ("adm", "far", "chair", "ma", "niu", "yang", "outsider")
    }
    assert seen == {
        "adm": [event.id],
        "far": [],
        "chair": [event.id],
        "ma": [event.id],
        "niu": [event.id],
        "yang": [],  # in the branch, but not invited
        "outsider": [],
    }
    roles = {
        login: attendee(
            session=session,
            actor=user(session, login),
            event=get_event(session=session, actor=user(session, login), event_id=event.id),
        )
        for login in ("adm", "chair", "ma", "niu")
    }
    assert (roles["chair"].role, roles["chair"].moderator) == (EventRole.chair, True)
    assert (roles["adm"].role, roles["adm"].moderator) == (None, True)
    assert (roles["ma"].votes, roles["niu"].votes) == (True, False)
    assert roles["ma"].participant_key == f"m{people['ma'].id}"


def test_the_command_line_schedules_as_the_named_account(
    session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    args = [
        "events", "add", "--org", str(tree.general.id), "--title", "支部委员会",
        "--starts", "2030-03-01 09:30", "--chair", str(people["chair"].id),
        "--invite", str(people["ma"].id), "--agenda", "通报", "--agenda", "讨论",
    ]  # fmt: skip
    done = runner.invoke(cli, [*args, "--as", "adm"])
    assert done.exit_code == 0, done.output
    event = session.get_one(Event, int(done.output.strip().splitlines()[-1]))
    assert event.starts_at == datetime(2030, 3, 1, 1, 30, tzinfo=UTC)  # 09:30 Beijing time
    assert [i.title for i in event.agenda] == ["通报", "讨论"]
    refused = runner.invoke(cli, [*args, "--as", "far"])
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
    listed = runner.invoke(cli, ["events", "list", "--json", "--as", "ma"])
    assert [row["title"] for row in json.loads(listed.output)] == ["支部委员会"]


def test_the_api_shows_an_event_only_to_those_who_may_see_it(
    client: TestClient, session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    log_in(client, "ma")
    assert client.get(f"/api/events/{event.id}").json()["agenda"] == ["审议工作报告", "表决"]
    assert [row["id"] for row in client.get("/api/events").json()] == [event.id]
    log_in(client, "yang")
    assert client.get(f"/api/events/{event.id}").status_code == 404
    assert client.get(f"/events/{event.id}/room").status_code == 404


def signal(client: TestClient, event_id: int, origin: str = "http://testserver") -> dict:
    with client.websocket_connect(
        f"/events/{event_id}/room/signal", headers={"origin": origin}
    ) as socket:
        welcome: dict = socket.receive_json()
        welcome["meeting"] = socket.receive_json()
        socket.send_text("{not json")
        welcome["reply"] = socket.receive_json()
        socket.send_text('{"type": "subscribe"}')
        welcome["media"] = socket.receive_json()
        return welcome


def refusal(client: TestClient, event_id: int, origin: str = "http://testserver") -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        signal(client, event_id, origin)
    return closed.value.code


def test_the_signalling_admits_the_invited_and_refuses_everyone_else(
    client: TestClient, session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    assert refusal(client, event.id) == 4401  # not logged in
    log_in(client, "ma")
    welcome = signal(client, event.id)
    assert (welcome["type"], welcome["participant"]) == ("welcome", f"m{people['ma'].id}")
    assert welcome["people"][f"m{people['chair'].id}"] == "张主持"
    assert (welcome["role"], welcome["moderator"]) == ("participant", False)
    assert welcome["reply"]["code"] == "bad_message"
    assert (welcome["meeting"]["type"], welcome["meeting"]["you"]) == ("meeting", "lobby")
    assert welcome["media"] == {
        "type": "error",
        "code": "refused",
        "message": "wait to be admitted",
    }
    assert refusal(client, event.id, origin="http://evil.example") == 4403
    log_in(client, "yang")
    assert refusal(client, event.id) == 4403  # not invited
    log_in(client, "adm")
    moderator = signal(client, event.id)
    assert moderator["moderator"] is True and moderator["meeting"]["you"] == "present"
    assert moderator["media"]["type"] == "offer"  # straight in: the room is offered at once
    event.status = EventStatus.ended
    session.commit()
    assert refusal(client, event.id) == 4410


def test_the_invited_are_told_and_reminded_once(
    session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    invited = {user(session, login).id for login in ("chair", "ma", "niu")}
    notices = session.scalars(select(Notice).where(Notice.category == INVITATION)).all()
    assert {n.user_id for n in notices} == invited
    assert notices[0].link == f"/events/{event.id}" and "村党总支党员大会" in notices[0].title
    assert "审议工作报告" in notices[0].body
    assert send_reminders(session=session, now=event.starts_at - timedelta(hours=2)) == 0
    assert send_reminders(session=session, now=event.starts_at - timedelta(minutes=20)) == 1
    assert send_reminders(session=session, now=event.starts_at - timedelta(minutes=10)) == 0
    reminders = session.scalars(select(Notice).where(Notice.category == REMINDER)).all()
    assert {n.user_id for n in reminders} == invited


def test_turn_credentials_are_minted_per_participant_and_expire() -> None:
    settings = Settings(turn_urls=["turn:203.0.113.5:3478?transport=udp"], turn_secret="s3cret")
    turn = turn_server(settings, "m12", now=1_000_000)
    assert turn is not None and turn.username == f"{1_000_000 + 24 * 3600}:m12"
    digest = hmac.new(b"s3cret", turn.username.encode(), hashlib.sha1).digest()
    assert turn.credential == base64.b64encode(digest).decode()  # what coturn computes
    assert turn_server(Settings(), "m12") is None
