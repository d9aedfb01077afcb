"""A meeting in progress: the lobby and who is admitted, the roll and the quorum, the agenda item
in hand, the speaking queue and the floor, and the chair's controls.

It lives on the room's media node beside the room's media, which it steers (who is heard, who is
spotlit), and writes every fact to the event's record as it happens: attendance stretches to the
second and the log the minutes are written from. The rules themselves are in ``rules.py``.

The messages it takes are in ``messages.py``.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.orm import Session

from core.api import unit_of_work
from core.db import utcnow
from core.settings import get_settings
from streaming.congress.attendance import award_attendance
from streaming.congress.messages import (
    MESSAGE,
    MODERATED,
    Admit,
    Agenda,
    Ballot,
    Chat,
    CloseVote,
    End,
    Excuse,
    Floor,
    Hand,
    Hide,
    Mute,
    PutMotion,
    Remove,
    Roll,
    Spotlight,
    Start,
    Unmute,
)
from streaming.congress.models import (
    CLOSED_EVENT,
    VOTING_ROLES,
    Attendance,
    Event,
    EventKind,
    EventRole,
    EventStatus,
    LogEntry,
    Motion,
)
from streaming.congress.rules import (
    QUORUMS,
    Choice,
    Level,
    SpeakingQueue,
    Voter,
    count_votes,
    roll_call,
)
from streaming.congress.service import Attendee
from streaming.media.room import MediaRoom
from streaming.media.signalling import RoomHost

CHAT_KEPT = 100
"""Chat messages a page is sent (the newest); all are kept in the record."""


class Refused(Exception):
    """A message its sender may not send now; told to them, the meeting goes on."""


@dataclass
class Person:
    """Someone invited (or moderating) as the meeting knows them."""

    who: Attendee
    state: Literal["away", "lobby", "present", "removed"] = "away"
    stretch: int | None = None  # their open Attendance row while present

    @property
    def key(self) -> str:
        return self.who.participant_key


@dataclass
class ChatLine:
    id: int
    at: datetime
    author: str
    name: str
    text: str
    hidden: bool = False


@dataclass
class OpenVote:
    """The motion being voted on: the voters as the roll stood at the opening, and the ballots."""

    id: int
    title: str
    anonymous: bool
    voters: list[Voter]
    choices: dict[int, Choice] = field(default_factory=dict)

    def may_vote(self, member_id: int | None) -> bool:
        return any(v.member_id == member_id and v.eligible and v.present for v in self.voters)


@dataclass
class Meeting:
    """The procedure of one event's meeting, steering the room ``host`` holds."""

    event_id: int
    kind: EventKind
    level: Level
    agenda: list[str]
    invited: dict[str, tuple[int, EventRole, str]]  # key -> member id, role, name
    host: RoomHost
    status: EventStatus = EventStatus.scheduled
    people: dict[str, Person] = field(default_factory=dict)
    queue: SpeakingQueue = field(default_factory=SpeakingQueue)
    position: int = 0  # the agenda item in hand (1-based); 0 before the first
    floor_since: datetime | None = None
    venue_floor: str | None = None  # a sub-venue given the floor: its room speaks
    chat: list[ChatLine] = field(default_factory=list)
    vote: OpenVote | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    excused: dict[int, str] = field(default_factory=dict)
    """Members left out of 应到 by the meeting's consent, with the reason given."""

    readmit: set[str] = field(default_factory=set)
    """Those admitted once (here, or before this node took the meeting up): coming back after
    leaving, or after a restart, they go straight in; removal takes it away."""

    rolls: dict[str, list[int]] = field(default_factory=dict)
    """Each sub-venue's roll as it last gave it: taken again when it comes back."""

    on_roll: dict[str, dict[int, int]] = field(default_factory=dict)
    """The members in each sub-venue's room now, with their open Attendance row."""

    @classmethod
    def of(
        cls,
        event: Event,
        host: RoomHost,
        record: Iterable[LogEntry] = (),
        motions: Iterable[Motion] = (),
    ) -> "Meeting":
        """The meeting of `event`, taken up where its record leaves it (after a restart: who
        was admitted, who excused, the agenda item, the votes counted)."""
        meeting = cls(
            event_id=event.id,
            kind=event.kind,
            level=event.level,
            agenda=[item.title for item in event.agenda],
            invited={
                f"m{i.member_id}": (i.member_id, i.role, i.member.name) for i in event.invitations
            },
            host=host,
            status=event.status,
        )
        for entry in record:
            key = entry.detail.get("participant")
            if entry.kind == "admitted" and key:
                meeting.readmit.add(key)
            elif entry.kind == "removed" and key:
                meeting.readmit.discard(key)
            elif entry.kind == "excused":
                meeting.excused[int(entry.detail["member"])] = entry.detail["reason"]
            elif entry.kind == "excuse_withdrawn":
                meeting.excused.pop(int(entry.detail["member"]), None)
            elif entry.kind == "agenda":
                meeting.position = int(entry.detail["position"])
            elif entry.kind == "roll" and key:
                meeting.rolls[key] = [int(member) for member in entry.detail["present"]]
        meeting.results = [
            {"id": m.id, "title": m.title, "anonymous": m.anonymous, **m.result}
            for m in motions
            if m.result is not None
        ]
        return meeting

    @property
    def room(self) -> MediaRoom:
        return self.host.room

    async def notify(self, key: str, message: dict[str, Any]) -> None:
        session = self.host.sessions.get(key)
        if session is not None:
            await session.send(message)

    def present(self, key: str) -> bool:
        person = self.people.get(key)
        return person is not None and person.state == "present"

    # Arrivals and departures

    async def arrive(self, who: Attendee) -> None:
        """Someone's page connected: moderators and the presidium go straight in, the others
        wait in the lobby until admitted (once admitted, a reconnect goes straight back in)."""
        person = self.people.get(who.participant_key)
        if person is None:
            person = self.people[who.participant_key] = Person(who)
        if person.state == "away":
            straight_in = (
                who.moderator
                or who.role is EventRole.presidium
                or who.venue_site_id is not None  # an invited site
                or who.participant_key in self.readmit
            )
            person.state = "lobby"
            if straight_in:
                await self._enter(person, by=None)
                if person.key in self.rolls:
                    await self._take_roll(person, self.rolls[person.key])
        if person.state == "present" and not self._may_speak(person):
            self.room.set_muted(person.key, True)
        await self.broadcast()

    async def depart(self, key: str) -> None:
        """Someone left for good (their reconnect grace is over, or they left the room)."""
        person = self.people.get(key)
        if person is None or person.state == "removed":
            return
        was_present = person.state == "present"
        person.state = "away"
        self.queue.lower_hand(self._member(person) or -1)
        if self.queue.speaking is not None and self.queue.speaking == self._member(person):
            self.queue.end_turn()
        if self.venue_floor == key:
            self.venue_floor = None
        if was_present:
            await self._close_stretch(person)
            await self._log("left", subject=person)
        await self.broadcast()

    async def _enter(self, person: Person, by: Person | None) -> None:
        person.state = "present"
        self.readmit.add(person.key)
        now = utcnow()

        def open_stretch(session: Session) -> int:
            row = Attendance(
                event_id=self.event_id,
                member_id=person.who.member_id,
                user_id=person.who.user_id,
                site_id=person.who.venue_site_id,
                name=person.who.name,
                joined_at=now,
            )
            session.add(row)
            session.flush()
            return row.id

        person.stretch = await unit_of_work(open_stretch)
        await self._log("admitted", actor=by, subject=person)
        self.room.set_muted(person.key, not self._may_speak(person))

    async def _close_stretch(self, person: Person) -> None:
        """They left: their stretch ends, and a sub-venue's roll with it."""
        stretches = [*([person.stretch] if person.stretch else []), *self._leave_roll(person)]
        person.stretch = None
        if not stretches:
            return
        now = utcnow()
        await unit_of_work(
            lambda session: session.execute(
                update(Attendance).where(Attendance.id.in_(stretches)).values(left_at=now)
            )
        )

    def _leave_roll(self, venue: Person) -> list[int]:
        return list(self.on_roll.pop(venue.key, {}).values())

    async def _take_roll(self, venue: Person, present: list[int]) -> None:
        """The sub-venue's roll is ``present`` from now: stretches open for those who came in,
        and close for those who left."""
        roster = dict(venue.who.roster)
        unknown = sorted(set(present) - set(roster))
        if unknown:
            raise Refused(f"not of this site's organisation: {unknown}")
        before = self.on_roll.setdefault(venue.key, {})
        came = [member for member in dict.fromkeys(present) if member not in before]
        went = [before.pop(member) for member in list(before) if member not in present]
        now = utcnow()
        site = venue.who.venue_site_id

        def change(session: Session) -> dict[int, int]:
            if went:
                session.execute(
                    update(Attendance).where(Attendance.id.in_(went)).values(left_at=now)
                )
            rows = {
                member: Attendance(
                    event_id=self.event_id,
                    member_id=member,
                    site_id=site,
                    name=roster[member],
                    joined_at=now,
                )
                for member in came
            }
            session.add_all(rows.values())
            session.flush()
            return {member: row.id for member, row in rows.items()}

        before.update(await unit_of_work(change))
        self.rolls[venue.key] = list(before)

    # Messages

    async def handle(self, sender: Attendee, text: str | bytes) -> None:
        person = self.people.get(sender.participant_key)
        try:
            message = MESSAGE.validate_json(text)
            if person is None:
                raise Refused("not in the meeting")
            if message.type in MODERATED and not sender.moderator:
                raise Refused("only the chair may do this")
            if self.status in CLOSED_EVENT:
                raise Refused("the meeting is over")
            if person.state != "present":
                raise Refused("wait to be admitted")
            await self._apply(person, message)
        except (Refused, ValidationError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            await self.notify(
                sender.participant_key, {"type": "error", "code": "refused", "message": reason}
            )
            return
        await self.broadcast()

    async def _apply(self, actor: Person, message: Any) -> None:
        handler: Callable[[Person, Any], Awaitable[None]] = getattr(self, f"_on_{message.type}")
        await handler(actor, message)

    async def _on_hand(self, actor: Person, message: Hand) -> None:
        member = self._member(actor)
        if member is None or not (actor.who.votes or actor.who.role is EventRole.speaker):
            raise Refused("only members invited to speak or vote raise a hand")
        if message.raised:
            self.queue.raise_hand(member)
        else:
            self.queue.lower_hand(member)
        await self._log("hand_raised" if message.raised else "hand_lowered", subject=actor)

    async def _on_chat(self, actor: Person, message: Chat) -> None:
        line = ChatLine(len(self.chat) + 1, utcnow(), actor.key, actor.who.name, message.text)
        self.chat.append(line)
        await self._log("chat", subject=actor, detail={"id": line.id, "text": line.text})

    async def _on_unmute(self, actor: Person, message: Unmute) -> None:
        if self.kind is EventKind.congress and not self._may_speak(actor):
            raise Refused("at a congress the chair gives the floor")
        self.room.set_muted(actor.key, False)

    async def _on_start(self, actor: Person, message: Start) -> None:
        await self._set_status(EventStatus.live)
        await self._log("started", actor=actor)

    async def _on_end(self, actor: Person, message: End) -> None:
        if self.vote is not None:
            raise Refused("close the vote first")
        for person in self.people.values():
            if person.state == "present":
                person.state, person.stretch = "away", None
        self.on_roll.clear()
        await self._set_status(EventStatus.ended)  # closes every stretch, awards the credit
        await self._log("ended", actor=actor)
        for person in list(self.people.values()):
            await self.notify(person.key, {"type": "ended"})

    async def _on_admit(self, actor: Person, message: Admit) -> None:
        waiting = [p for p in self.people.values() if p.state == "lobby"]
        chosen = waiting if message.participant is None else [self._person(message.participant)]
        for person in chosen:
            if person.state not in ("lobby", "removed"):
                raise Refused("not waiting in the lobby")
            await self._enter(person, by=actor)
            await self.notify(person.key, {"type": "admitted"})

    async def _on_remove(self, actor: Person, message: Remove) -> None:
        person = self._person(message.participant)
        if person.who.moderator:
            raise Refused("a moderator cannot be removed")
        was_present = person.state == "present"
        person.state = "removed"
        self.readmit.discard(person.key)
        self.rolls.pop(person.key, None)
        self.queue.lower_hand(self._member(person) or -1)
        if was_present:
            await self._close_stretch(person)
        await self._log("removed", actor=actor, subject=person)
        await self.notify(person.key, {"type": "removed"})
        session = self.host.sessions.get(person.key)
        if session is not None:
            await session.leave()

    async def _on_floor(self, actor: Person, message: Floor) -> None:
        await self._give_floor(actor, message.participant)

    async def _on_mute(self, actor: Person, message: Mute) -> None:
        """One participant, or everyone but the floor, the presidium and the moderators."""
        if message.participant is not None:
            person = self._person(message.participant)
            self.room.set_muted(person.key, True)
            await self._log("muted", actor=actor, subject=person)
            return
        for person in self.people.values():
            if person.state == "present" and not self._may_speak(person):
                self.room.set_muted(person.key, True)
        await self._log("muted_all", actor=actor)

    async def _on_spotlight(self, actor: Person, message: Spotlight) -> None:
        if message.participant is not None:
            self._person(message.participant)
        self.room.set_spotlight(message.participant)
        await self._log("spotlight", actor=actor, detail={"participant": message.participant})

    async def _on_agenda(self, actor: Person, message: Agenda) -> None:
        if message.position > len(self.agenda):
            raise Refused("no such agenda item")
        self.position = message.position
        title = self.agenda[self.position - 1]
        await self._log("agenda", actor=actor, detail={"position": self.position, "title": title})

    async def _on_hide(self, actor: Person, message: Hide) -> None:
        line = next((line for line in self.chat if line.id == message.message), None)
        if line is None:
            raise Refused("no such message")
        line.hidden = True
        await self._log("chat_hidden", actor=actor, detail={"id": line.id})

    async def _on_motion(self, actor: Person, message: PutMotion) -> None:
        if self.vote is not None:
            raise Refused("a vote is open already")
        voters = self._voters()
        roll = roll_call(voters, QUORUMS[self.level])
        motion = Motion(
            event_id=self.event_id,
            title=message.title,
            agenda_position=self.position or None,
            anonymous=message.anonymous,
            opened_at=utcnow(),
            roll={
                "expected": roll.expected,
                "present": [v.member_id for v in voters if v.present and v.eligible],
            },
        )

        def put(session: Session) -> int:
            session.add(motion)
            session.flush()
            return motion.id

        motion_id = await unit_of_work(put)
        self.vote = OpenVote(motion_id, message.title, message.anonymous, voters)
        await self._log(
            "vote_opened", actor=actor, detail={"motion": motion_id, "title": message.title}
        )

    async def _on_ballot(self, actor: Person, message: Ballot) -> None:
        vote = self.vote
        member = self._member(actor)
        if message.member is not None:  # a sub-venue's, for a member on its roll
            if message.member not in self.on_roll.get(actor.key, {}):
                raise Refused("only a sub-venue votes for a member, on its roll")
            member = message.member
        if vote is None:
            raise Refused("no vote is open")
        if member is None or not vote.may_vote(member):
            raise Refused("you do not vote on this motion")
        if member in vote.choices:
            raise Refused("you have voted already")
        vote.choices[member] = message.choice

    async def _on_close(self, actor: Person, message: CloseVote) -> None:
        vote = self.vote
        if vote is None:
            raise Refused("no vote is open")
        tally = count_votes(vote.voters, vote.choices)
        result = {
            "for": tally.in_favour,
            "against": tally.against,
            "abstain": tally.abstain,
            "not_voting": tally.not_voting,
            "present": tally.present,
            "carried": tally.carried,
        }
        ballots = {
            str(member): "" if vote.anonymous else choice.value
            for member, choice in vote.choices.items()
        }
        closed = utcnow()

        def record(session: Session) -> None:
            motion = session.get_one(Motion, vote.id)
            motion.closed_at, motion.result, motion.ballots = closed, result, ballots

        await unit_of_work(record)
        self.vote = None
        self.results.append(
            {"id": vote.id, "title": vote.title, "anonymous": vote.anonymous, **result}
        )
        await self._log("vote_closed", actor=actor, detail={"motion": vote.id, **result})

    async def _on_excuse(self, actor: Person, message: Excuse) -> None:
        """Record the meeting's consent to leave an absent voter out of 应到 (DOMAIN.md: a
        migrant member who cannot attend), or withdraw it; a present member is not excused."""
        if message.participant not in self.invited:
            raise Refused("no such member invited")
        member, _, name = self.invited[message.participant]
        if message.excused:
            if not message.reason.strip():
                raise Refused("give the reason for the record")
            if self.present(message.participant):
                raise Refused("a member present is not excused")
            self.excused[member] = message.reason.strip()
        else:
            self.excused.pop(member, None)
        await self._log(
            "excused" if message.excused else "excuse_withdrawn",
            actor=actor,
            detail={"member": member, "name": name, "reason": message.reason.strip()},
        )

    async def _on_roll(self, actor: Person, message: Roll) -> None:
        if actor.who.venue_site_id is None:
            raise Refused("only a sub-venue takes a roll")
        await self._take_roll(actor, message.present)
        names = dict(actor.who.roster)
        await self._log(
            "roll",
            subject=actor,
            detail={
                "present": self.rolls[actor.key],
                "names": [names[member] for member in self.rolls[actor.key]],
            },
        )

    async def _give_floor(self, actor: Person, key: str | None) -> None:
        """The floor to ``key`` (who is unmuted; the previous speaker is muted again), or back
        to the chair."""
        previous, previous_venue = self.queue.speaking, self.venue_floor
        self.venue_floor = None
        if key is None:
            self.queue.end_turn()
            self.floor_since = None
            await self._log("floor_taken_back", actor=actor)
        elif self._person(key).who.venue_site_id is not None:
            if self._person(key).state != "present":
                raise Refused("the floor goes to a sub-venue present")
            self.queue.end_turn()
            self.venue_floor, self.floor_since = key, utcnow()
            self.room.set_muted(key, False)
            await self._log("floor_given", actor=actor, subject=self._person(key))
        else:
            person = self._person(key)
            member = self._member(person)
            if member is None or person.state != "present":
                raise Refused("the floor goes to a member present")
            if member not in self.queue.waiting:
                self.queue.raise_hand(member)  # the chair may call on someone directly
            self.queue.give_floor(member)
            self.floor_since = utcnow()
            self.room.set_muted(person.key, False)
            await self._log("floor_given", actor=actor, subject=person)
        before_keys = [f"m{previous}" if previous is not None else "", previous_venue or ""]
        for before in filter(None, map(self.people.get, before_keys)):
            if not self._may_speak(before):
                self.room.set_muted(before.key, True)

    async def _set_status(self, status: EventStatus) -> None:
        now = utcnow()
        event_id = self.event_id

        def change(session: Session) -> None:
            event = session.get_one(Event, event_id)
            event.status = status
            if status is EventStatus.live and event.started_at is None:
                event.started_at = now
            if status is EventStatus.ended:
                # One instant closes the meeting and every stretch still open, in one
                # transaction with the credit it earns.
                event.ended_at = now
                event.started_at = event.started_at or now
                session.execute(
                    update(Attendance)
                    .where(Attendance.event_id == event_id, Attendance.left_at.is_(None))
                    .values(left_at=now)
                )
                session.flush()
                award_attendance(session, event)

        await unit_of_work(change)
        self.status = status

    # The state every page is shown

    def _voters(self) -> list[Voter]:
        """The roll as it stands: every invited member, entitled to vote or not, here (in the
        room, or on a sub-venue's roll) or not."""
        present = {p.who.member_id for p in self.people.values() if p.state == "present"}
        for venue in self.on_roll.values():
            present.update(venue)
        return [
            Voter(
                member_id=member_id,
                eligible=role in VOTING_ROLES,
                excused=member_id in self.excused and member_id not in present,
                present=member_id in present,
            )
            for member_id, role, _ in self.invited.values()
        ]

    def roll(self) -> dict[str, Any]:
        """应到, 实到 and the quorum, from the invitations and who is present."""
        quorum = QUORUMS[self.level]
        figures = roll_call(self._voters(), quorum)
        return {
            "expected": figures.expected,
            "present": figures.present,
            "required": figures.required,
            "quorate": figures.quorate,
            "rule": f"> {quorum.numerator}/{quorum.denominator}",
        }

    def state_for(self, key: str) -> dict[str, Any]:
        """What ``key``'s page shows: everyone's state to all; the lobby and chat moderation
        only to moderators."""
        viewer = self.people.get(key)
        moderator = viewer is not None and viewer.who.moderator
        people = []
        at_venue = {
            member: self.people[venue].who.name
            for venue, roll in self.on_roll.items()
            for member in roll
        }
        for person_key, (member_id, role, name) in self.invited.items():
            person = self.people.get(person_key)
            row = self._shown(person_key, name, role.value, person, member_id)
            people.append({**row, "at": at_venue.get(member_id)})
        for person in self.people.values():
            if person.key not in self.invited:
                shown = "venue" if person.who.venue_site_id is not None else None
                people.append(self._shown(person.key, person.who.name, shown, person, None))
        return {
            "type": "meeting",
            "status": self.status.value,
            "you": viewer.state if viewer is not None else "away",
            "moderator": moderator,
            "people": [p for p in people if moderator or p["state"] != "lobby"],
            "floor": self._floor(),
            "floorSince": self.floor_since.isoformat() if self.floor_since else None,
            "floorLimit": get_settings().speaking_minutes * 60,
            "queue": [f"m{member}" for member in self.queue.waiting],
            "agenda": self.position,
            "spotlight": self.room.spotlight,
            "roll": self.roll(),
            "vote": self._vote_for(viewer),
            "roster": self._roster_for(viewer),
            "results": self.results,
            "chat": [
                {"id": line.id, "name": line.name, "text": line.text, "at": line.at.isoformat()}
                for line in self.chat[-CHAT_KEPT:]
                if not line.hidden
            ],
        }

    def _vote_for(self, viewer: Person | None) -> dict[str, Any] | None:
        """The open vote as one viewer sees it: whether they may vote and have; the running
        count of ballots (never a choice before the close)."""
        vote = self.vote
        if vote is None:
            return None
        member = self._member(viewer) if viewer is not None else None
        return {
            "id": vote.id,
            "title": vote.title,
            "anonymous": vote.anonymous,
            "mayVote": member is not None and vote.may_vote(member),
            "voted": member in vote.choices,
            "ballots": len(vote.choices),
            "voters": sum(1 for v in vote.voters if v.eligible and v.present),
        }

    def _roster_for(self, viewer: Person | None) -> list[dict[str, Any]] | None:
        """A sub-venue's own page: the members it takes its roll from, who is on it, and how
        each may vote on the open motion."""
        if viewer is None or viewer.who.venue_site_id is None:
            return None
        here = self.on_roll.get(viewer.key, {})
        vote = self.vote
        return [
            {
                "id": member,
                "name": name,
                "here": member in here,
                "mayVote": vote is not None and member in here and vote.may_vote(member),
                "voted": vote is not None and member in vote.choices,
            }
            for member, name in viewer.who.roster
        ]

    def _shown(
        self, key: str, name: str, role: str | None, person: Person | None, member_id: int | None
    ) -> dict[str, Any]:
        return {
            "roll": len(self.on_roll.get(key, {})),
            "key": key,
            "name": name,
            "role": role,
            "state": person.state if person is not None else "away",
            "hand": member_id is not None and member_id in self.queue.waiting,
            "excused": self.excused.get(member_id) if member_id is not None else None,
            "muted": key in self.room.muted,
        }

    async def broadcast(self) -> None:
        await asyncio.gather(*(self.notify(key, self.state_for(key)) for key in self.people))

    # Helpers

    def _person(self, key: str) -> Person:
        person = self.people.get(key)
        if person is None:
            raise Refused("no such participant here")
        return person

    @staticmethod
    def _member(person: Person) -> int | None:
        return person.who.member_id if person.who.role is not None else None

    def _may_speak(self, person: Person) -> bool:
        """Unmuted by the meeting itself: moderators, the presidium, and whoever has the floor."""
        member = self._member(person)
        return (
            person.who.moderator
            or person.who.role is EventRole.presidium
            or (member is not None and member == self.queue.speaking)
            or person.key == self.venue_floor
        )

    def _floor(self) -> str | None:
        """Who has the floor: a member, or a sub-venue."""
        if self.queue.speaking is not None:
            return f"m{self.queue.speaking}"
        return self.venue_floor

    async def _log(
        self,
        kind: str,
        *,
        actor: Person | None = None,
        subject: Person | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        entry = LogEntry(
            event_id=self.event_id,
            at=utcnow(),
            kind=kind,
            actor=actor.who.name if actor is not None else "",
            subject=subject.who.name if subject is not None else "",
            detail={**(detail or {}), **({"participant": subject.key} if subject else {})},
        )
        await unit_of_work(lambda session: session.add(entry))
