"""The meeting's procedure on a real room host (no peer connections): the lobby and admission,
the roll and quorum, hands and the floor steering who is heard, the chair's controls refused to
others, removal, the end, and every fact on the event's record."""

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.api import unit_of_work
from core.people.models import Member, Role, User
from streaming.congress.hosting import take_up
from streaming.congress.meeting import Meeting
from streaming.congress.minutes import make_minutes
from streaming.congress.models import Attendance, Event, EventRole, EventStatus, LogEntry, Motion
from streaming.congress.service import Attendee, attendee
from streaming.media.room import MediaRoom
from streaming.media.signalling import RoomHost
from terminals.credits.models import CreditEntry
from terminals.sites.models import SiteAdministrator
from tests.factories import make_user
from tests.streaming.test_events import schedule, user
from tests.terminals.sites_data import make_site

Inbox = dict[str, list[dict[str, Any]]]


def attendee_of(session: Session, login: str, event: Event) -> Attendee:
    return attendee(session=session, actor=user(session, login), event=event)


async def convene(session: Session, event: Event, logins: list[str]) -> tuple[Meeting, Inbox]:
    """A meeting whose participants' pages are inboxes; each of `logins` arrives in turn."""
    host = RoomHost(MediaRoom(), ice_servers=[])
    meeting = Meeting.of(event, host)
    host.on_departure = meeting.depart
    inbox: Inbox = {}
    for login in logins:
        who = attendee_of(session, login, event)
        received = inbox.setdefault(who.participant_key, [])

        async def send(message: dict[str, Any], received: list = received) -> None:
            received.append(message)

        await host.connect(who.participant_key, send)
        await meeting.arrive(who)
    return meeting, inbox


def last_state(inbox: Inbox, key: str) -> dict[str, Any]:
    return next(m for m in reversed(inbox[key]) if m["type"] == "meeting")


async def say(meeting: Meeting, session: Session, event: Event, login: str, **message: Any) -> None:
    await meeting.handle(attendee_of(session, login, event), json.dumps(message))


def test_lobby_admission_roll_and_the_floor(
    session: Session,
    tree: Any,
    people: dict[str, Member],
) -> None:
    event = schedule(session, tree, people)
    chair, ma, niu = (f"m{people[n].id}" for n in ("chair", "ma", "niu"))

    async def scenario() -> None:
        meeting, inbox = await convene(session, event, ["ma", "chair", "niu"])
        # The chair goes straight in; the others wait, and only moderators see the lobby.
        assert [meeting.people[k].state for k in (ma, chair, niu)] == ["lobby", "present", "lobby"]
        assert {p["key"] for p in last_state(inbox, ma)["people"]} == {chair}
        assert {p["key"]: p["state"] for p in last_state(inbox, chair)["people"]} == {
            chair: "present",
            ma: "lobby",
            niu: "lobby",
        }
        # 应到 counts the chair and ma (niu observes): 1 of 2 is no quorum (more than 4/5).
        assert last_state(inbox, chair)["roll"] == {
            "expected": 2,
            "present": 1,
            "required": 2,
            "quorate": False,
            "rule": "> 4/5",
        }
        await say(meeting, session, event, "ma", type="hand", raised=True)
        assert inbox[ma][-1]["code"] == "refused"  # not admitted yet
        await say(meeting, session, event, "chair", type="admit", participant=None)
        assert last_state(inbox, chair)["roll"]["quorate"] is True
        assert {"type": "admitted"} in inbox[ma]
        await say(meeting, session, event, "chair", type="start")
        # Participants enter muted; a raised hand, then the floor, unmutes ma at the server.
        assert ma in meeting.room.muted and chair not in meeting.room.muted
        await say(meeting, session, event, "ma", type="hand", raised=True)
        assert last_state(inbox, chair)["queue"] == [ma]
        await say(meeting, session, event, "niu", type="hand", raised=True)
        assert inbox[niu][-1]["code"] == "refused"  # an observer does not ask for the floor
        await say(meeting, session, event, "chair", type="floor", participant=ma)
        state = last_state(inbox, niu)
        assert (state["floor"], state["queue"]) == (ma, [])
        assert ma not in meeting.room.muted
        await say(meeting, session, event, "chair", type="mute", participant=None)
        assert ma not in meeting.room.muted  # muting everyone leaves the floor on
        await say(meeting, session, event, "chair", type="floor", participant=None)
        assert ma in meeting.room.muted and last_state(inbox, ma)["floor"] is None
        # Chair's controls are the chair's.
        for message in ({"type": "admit", "participant": None}, {"type": "end"}):
            await say(meeting, session, event, "ma", **message)
            assert inbox[ma][-1] == {
                "type": "error",
                "code": "refused",
                "message": "only the chair may do this",
            }
        await say(meeting, session, event, "chair", type="agenda", position=2)
        await say(meeting, session, event, "ma", type="chat", text="同意报告")
        await say(meeting, session, event, "chair", type="remove", participant=niu)
        assert {"type": "removed"} in inbox[niu] and meeting.people[niu].state == "removed"
        await meeting.arrive(attendee_of(session, "niu", event))  # a removed member stays out
        assert meeting.people[niu].state == "removed"
        await say(meeting, session, event, "chair", type="end")
        assert {"type": "ended"} in inbox[ma]

    asyncio.run(scenario())
    session.expire_all()
    assert session.get_one(Event, event.id).status is EventStatus.ended
    stretches = session.scalars(select(Attendance).order_by(Attendance.id)).all()
    assert {s.name for s in stretches} == {"张主持", "马党员", "牛党员"}
    assert all(s.left_at is not None and s.left_at >= s.joined_at for s in stretches)
    kinds = [e.kind for e in session.scalars(select(LogEntry).order_by(LogEntry.id))]
    assert kinds == [
        "admitted", "admitted", "admitted", "started", "hand_raised", "floor_given",
        "muted_all", "floor_taken_back", "agenda", "chat", "removed", "ended",
    ]  # fmt: skip


def test_a_participant_gone_for_good_leaves_the_roll(
    session: Session,
    tree: Any,
    people: dict[str, Member],
) -> None:
    event = schedule(session, tree, people)
    ma = f"m{people['ma'].id}"

    async def scenario() -> None:
        meeting, inbox = await convene(session, event, ["chair", "ma"])
        await say(meeting, session, event, "chair", type="admit", participant=ma)
        host = meeting.host
        host.disconnected(host.sessions[ma], grace=0.1)
        await asyncio.sleep(0.3)
        assert meeting.people[ma].state == "away"
        assert last_state(inbox, f"m{people['chair'].id}")["roll"]["present"] == 1
        # Back later: admitted once, ma goes straight in again.
        await host.connect(ma, lambda message: asyncio.sleep(0))
        await meeting.arrive(attendee_of(session, "ma", event))
        assert meeting.people[ma].state == "present"

    asyncio.run(scenario())
    stretches = session.scalars(select(Attendance).where(Attendance.name == "马党员")).all()
    assert [s.left_at is not None for s in stretches] == [True, False]  # left, then back


@pytest.mark.parametrize("text", ["{", '{"type": "floor", "participant": 5}', '{"type":"chat"}'])
def test_a_malformed_procedure_message_is_refused_alone(
    session: Session,
    tree: Any,
    people: dict[str, Member],
    text: str,
) -> None:
    event = schedule(session, tree, people)

    async def scenario() -> None:
        meeting, inbox = await convene(session, event, ["chair"])
        await meeting.handle(attendee_of(session, "chair", event), text)
        assert inbox[f"m{people['chair'].id}"][-1]["code"] == "refused"

    asyncio.run(scenario())
    assert session.scalar(select(User).where(User.login == "chair")) is not None


@pytest.mark.parametrize("anonymous", [False, True])
def test_a_vote_is_counted_against_the_roll_at_its_opening(
    session: Session, tree: Any, people: dict[str, Member], anonymous: bool
) -> None:
    event = schedule(session, tree, people)
    chair, ma, niu = (f"m{people[n].id}" for n in ("chair", "ma", "niu"))

    async def scenario() -> None:
        meeting, inbox = await convene(session, event, ["chair", "ma", "niu"])
        await say(meeting, session, event, "chair", type="admit", participant=None)
        await say(meeting, session, event, "ma", type="ballot", choice="for")
        assert inbox[ma][-1]["message"] == "no vote is open"
        await say(meeting, session, event, "chair", type="agenda", position=2)
        await say(
            meeting,
            session,
            event,
            "chair",
            type="motion",
            title="通过工作报告",
            anonymous=anonymous,
        )
        vote = last_state(inbox, ma)["vote"]
        assert {key: value for key, value in vote.items() if key != "id"} == {
            "title": "通过工作报告", "anonymous": anonymous, "mayVote": True,
            "voted": False, "ballots": 0, "voters": 2,
        }  # fmt: skip
        assert last_state(inbox, niu)["vote"]["mayVote"] is False  # an observer
        await say(meeting, session, event, "ma", type="ballot", choice="against")
        await say(meeting, session, event, "ma", type="ballot", choice="for")
        assert inbox[ma][-1]["message"] == "you have voted already"
        await say(meeting, session, event, "niu", type="ballot", choice="for")
        assert inbox[niu][-1]["message"] == "you do not vote on this motion"
        await say(meeting, session, event, "chair", type="end")
        assert inbox[chair][-1]["message"] == "close the vote first"
        await say(meeting, session, event, "chair", type="ballot", choice="for")
        await say(meeting, session, event, "chair", type="close")
        result = last_state(inbox, niu)["results"][0]
        assert (result["for"], result["against"], result["present"]) == (1, 1, 2)
        assert result["carried"] is False  # one of two is not more than half

    asyncio.run(scenario())
    motion = session.scalars(select(Motion)).one()
    assert motion.agenda_position == 2 and motion.closed_at is not None
    assert motion.roll == {"expected": 2, "present": sorted([people["chair"].id, people["ma"].id])}
    expected_ballots = {str(people["ma"].id): "against", str(people["chair"].id): "for"}
    if anonymous:
        expected_ballots = dict.fromkeys(expected_ballots, "")
    assert motion.ballots == expected_ballots


def test_an_absent_member_excused_by_the_meeting_leaves_the_expected(
    session: Session, tree: Any, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    chair, ma = f"m{people['chair'].id}", f"m{people['ma'].id}"

    async def scenario() -> None:
        meeting, inbox = await convene(session, event, ["chair"])
        assert last_state(inbox, chair)["roll"]["quorate"] is False  # 1 of 2
        await say(meeting, session, event, "chair", type="excuse", participant=ma, reason=" ")
        assert inbox[chair][-1]["message"] == "give the reason for the record"
        await say(
            meeting, session, event, "chair", type="excuse", participant=ma, reason="外出务工"
        )
        state = last_state(inbox, chair)
        assert (state["roll"]["expected"], state["roll"]["quorate"]) == (1, True)
        assert next(p for p in state["people"] if p["key"] == ma)["excused"] == "外出务工"
        await say(meeting, session, event, "chair", type="excuse", participant=ma, excused=False)
        assert last_state(inbox, chair)["roll"]["expected"] == 2
        await say(meeting, session, event, "chair", type="excuse", participant=chair, reason="x")
        assert inbox[chair][-1]["message"] == "a member present is not excused"

    asyncio.run(scenario())
    entries = session.scalars(select(LogEntry).where(LogEntry.kind.like("excus%"))).all()
    assert [(e.kind, e.detail["reason"], e.actor) for e in entries] == [
        ("excused", "外出务工", "张主持"),
        ("excuse_withdrawn", "", "张主持"),
    ]


def test_a_meeting_is_taken_up_where_its_record_left_it_after_a_restart(
    session: Session, tree: Any, people: dict[str, Member]
) -> None:
    """The node holding the meeting stops (kill -9): another takes it up from the record."""
    event = schedule(session, tree, people)
    ma, niu = f"m{people['ma'].id}", f"m{people['niu'].id}"

    async def before() -> None:
        meeting, _ = await convene(session, event, ["chair", "ma"])
        await say(meeting, session, event, "chair", type="admit", participant=ma)
        await say(meeting, session, event, "chair", type="start")
        await say(meeting, session, event, "chair", type="agenda", position=2)
        await say(meeting, session, event, "chair", type="excuse", participant=niu, reason="外出")
        await say(meeting, session, event, "chair", type="motion", title="表决一")
        await say(meeting, session, event, "ma", type="ballot", choice="for")
        await say(meeting, session, event, "chair", type="ballot", choice="for")
        await say(meeting, session, event, "chair", type="close")
        # ... and here the process dies: nobody's stretch is closed.

    asyncio.run(before())
    assert session.scalar(select(Attendance).where(Attendance.left_at.is_(None))) is not None

    async def after() -> None:
        host = RoomHost(MediaRoom(), ice_servers=[])
        meeting = await unit_of_work(lambda s: take_up(s, event.id, host))
        host.on_departure = meeting.depart
        received: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            received.append(message)

        await host.connect(ma, send)
        await meeting.arrive(attendee_of(session, "ma", event))
        state = received[-1]
        assert (state["you"], state["agenda"], state["status"]) == ("present", 2, "live")
        assert [r["title"] for r in state["results"]] == ["表决一"]
        assert next(p for p in state["people"] if p["key"] == niu)["excused"] == "外出"

    asyncio.run(after())
    session.expire_all()
    stretches = session.scalars(select(Attendance).order_by(Attendance.id)).all()
    assert [s.left_at is None for s in stretches] == [False, False, True]  # the new stretch open
    assert all(s.left_at >= s.joined_at for s in stretches[:2] if s.left_at)


def test_a_sub_venue_joins_with_its_own_roll_counted_in_the_quorum_and_the_votes(
    session: Session,
    tree: Any,
    people: dict[str, Member],
) -> None:
    clerk = make_user(session, "clerk", Role.member, tree.branch)
    site, _ = make_site(session, user(session, "adm"), tree.branch.id, name="马家村站点")
    session.add(SiteAdministrator(site_id=site.id, user_id=clerk.id))
    session.commit()
    invitees = {
        people["chair"].id: EventRole.chair,
        people["ma"].id: EventRole.participant,
        people["yang"].id: EventRole.participant,
        people["niu"].id: EventRole.observer,
    }
    event = schedule(session, tree, people, site_ids=[site.id], invitees=invitees, credit_hours=1.5)
    chair, venue = f"m{people['chair'].id}", f"s{site.id}"
    ma, yang, niu = (people[login].id for login in ("ma", "yang", "niu"))

    async def scenario() -> None:
        meeting, inbox = await convene(session, event, ["chair", "clerk"])
        # The site joins as itself, straight in (it was invited), and takes its roll from the
        # members of its organisation.
        assert meeting.people[venue].state == "present"
        mine = last_state(inbox, venue)["roster"]
        assert {row["name"] for row in mine} >= {"马党员", "杨党员"} and not last_state(
            inbox, chair
        )["roster"]
        assert last_state(inbox, chair)["roll"]["present"] == 1
        await say(meeting, session, event, "clerk", type="roll", present=[ma, niu])
        assert "not of this site's organisation" in inbox[venue][-1]["message"]
        await say(meeting, session, event, "clerk", type="roll", present=[ma, yang])
        roll = last_state(inbox, chair)["roll"]
        assert (roll["expected"], roll["present"], roll["quorate"]) == (3, 3, True)
        shown = {p["key"]: p for p in last_state(inbox, chair)["people"]}
        assert (shown[venue]["role"], shown[venue]["roll"]) == ("venue", 2)
        assert shown[f"m{ma}"]["at"] == "马家村站点"
        # The chair gives the sub-venue the floor: its room is heard, until taken back.
        assert venue in meeting.room.muted
        await say(meeting, session, event, "chair", type="floor", participant=venue)
        assert venue not in meeting.room.muted and last_state(inbox, chair)["floor"] == venue
        await say(meeting, session, event, "chair", type="floor", participant=None)
        assert venue in meeting.room.muted
        await say(meeting, session, event, "chair", type="start")
        await say(meeting, session, event, "chair", type="motion", title="通过报告")
        assert [r["mayVote"] for r in last_state(inbox, venue)["roster"] if r["here"]] == [
            True,
            True,
        ]
        await say(meeting, session, event, "clerk", type="ballot", choice="for", member=ma)
        await say(meeting, session, event, "clerk", type="ballot", choice="against", member=yang)
        await say(meeting, session, event, "chair", type="ballot", choice="for", member=ma)
        assert "only a sub-venue" in inbox[chair][-1]["message"]
        await say(meeting, session, event, "chair", type="ballot", choice="for")
        await say(meeting, session, event, "chair", type="close")
        result = last_state(inbox, chair)["results"][-1]
        assert (result["for"], result["against"], result["carried"]) == (2, 1, True)
        await say(meeting, session, event, "clerk", type="roll", present=[ma])  # yang went out
        assert last_state(inbox, chair)["roll"]["present"] == 2
        record = session.scalars(select(LogEntry).where(LogEntry.event_id == event.id)).all()
        taken_up = Meeting.of(event, RoomHost(MediaRoom(), ice_servers=[]), record)
        assert taken_up.rolls[venue] == [ma]  # a sub-venue back after a restart keeps its roll
        await say(meeting, session, event, "chair", type="end")

    asyncio.run(scenario())
    session.expire_all()
    at_site = session.scalars(
        select(Attendance)
        .where(Attendance.site_id == site.id, Attendance.member_id.is_not(None))
        .order_by(Attendance.id)
    ).all()
    assert [(row.member_id, row.name) for row in at_site] == [(ma, "马党员"), (yang, "杨党员")]
    assert all(row.left_at is not None for row in at_site)
    assert at_site[1].left_at < at_site[0].left_at  # yang left the site's room before the end
    # ma was on the sub-venue's roll for the whole meeting: the credit reaches ma's ledger.
    credited = session.scalars(select(CreditEntry).where(CreditEntry.member_id == ma)).all()
    assert [(entry.award_key, entry.hours) for entry in credited] == [(f"event:{event.id}", 1.5)]
    presence = {row.name: row for row in make_minutes(session, event).presence}
    assert (presence["马家村站点"].role, presence["马家村站点"].venues) == ("venue", [])
    assert (presence["马党员"].role, presence["马党员"].venues) == ("participant", ["马家村站点"])
