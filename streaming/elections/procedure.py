"""The direct vote's nine steps (DOMAIN.md) as a state machine over the election's record.

The state is never stored apart: it is what the record's entries say, read in order, so the
record alone decides what may happen next, here and in any verifier. Each fact is checked
against the state before it is appended: who may record it (the chair moves the steps, tellers
enter ballots, scrutineers settle them) and whether the step allows it. A step cannot be
skipped; without a quorum nothing moves past the count of attendance; the chair may adjourn
(and resume) or void a round with a reason; nobody enters a ballot once the count is closed.

Before the first step the chair records the electorate (the members entitled to vote, by member
id: the record is pseudonymous) and the venues; 应到 is the electorate less its exclusions, so a
roll must agree with it. A recommendation round (公推) may precede the vote: eligible members,
and the extra recommenders it names with their weights, give one set of names each (online, or
on paper entered by the chair or a scrutineer); once it closes the committee confirms the
initial candidates (初步候选人) from the ranked list, and the first round's ballot carries them.
"""

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from core.errors import PlatformError
from core.i18n import N_
from streaming.elections.rules import (
    PER_MILLE,
    Basis,
    Entry,
    ballot_entry,
    count_entries,
    recommender_weights,
    reconciliation,
)


class Step(enum.IntEnum):
    attendance = 1  # count attendance against 应到, the quorum
    rules = 2  # adopt the election rules
    officers = 3  # approve the scrutineers and tellers
    candidates = 4  # announce the seats and candidates
    issue = 5  # inspect the ballot box and issue ballots
    cast = 6
    reconcile = 7  # ballots returned against issued, per venue
    count = 8
    announce = 9


class Role(enum.StrEnum):
    chair = "chair"
    scrutineer = "scrutineer"  # 监票人
    teller = "teller"  # 计票人
    recommender = "recommender"  # an eligible member giving their own recommendation set online


QUORUM = Fraction(4, 5)
"""A grassroots election needs more than this share of 应到 present (DOMAIN.md)."""

WHO: dict[str, frozenset[Role]] = {
    "electorate": frozenset({Role.chair}),
    "venues": frozenset({Role.chair}),
    "recommendation_opened": frozenset({Role.chair}),
    "recommendation": frozenset({Role.chair, Role.scrutineer, Role.recommender}),
    "recommendation_closed": frozenset({Role.chair}),
    "candidates_confirmed": frozenset({Role.chair}),
    "step": frozenset({Role.chair}),
    "officers": frozenset({Role.chair}),
    "roll": frozenset({Role.chair}),
    "exclusion": frozenset({Role.chair}),
    "round_opened": frozenset({Role.chair}),
    "ballots_issued": frozenset({Role.chair, Role.scrutineer}),
    "ballots_returned": frozenset({Role.chair, Role.scrutineer}),
    "ballot": frozenset({Role.teller}),
    "settlement": frozenset({Role.scrutineer}),
    "announced": frozenset({Role.chair}),
    "adjourned": frozenset({Role.chair}),
    "resumed": frozenset({Role.chair}),
    "round_void": frozenset({Role.chair}),
}
"""Who may record each kind of fact."""

WHEN: dict[str, frozenset[Step]] = {
    "roll": frozenset({Step.attendance}),
    "officers": frozenset({Step.officers}),
    "exclusion": frozenset({Step.attendance}),
    "round_opened": frozenset({Step.candidates}),
    "ballots_issued": frozenset({Step.issue}),
    "ballots_returned": frozenset({Step.reconcile}),
    "ballot": frozenset({Step.count}),
    "settlement": frozenset({Step.count}),
    "announced": frozenset({Step.announce}),
}
"""In which step each kind of fact may be recorded (steps, adjournments and voids: any)."""

BEFORE_THE_VOTE = frozenset(
    {"electorate", "venues", "recommendation_opened", "recommendation", "recommendation_closed",
     "candidates_confirmed"}
)  # fmt: skip
"""Facts recorded before the first step: the electorate, the venues and the recommendation
round."""


ROUND_FACTS = frozenset(
    {"roll", "round_opened", "ballots_issued", "ballots_returned", "ballot", "settlement",
     "announced", "round_void"}
)  # fmt: skip
"""Facts of one round: each names it, and it must be the round in hand."""


class Refused(PlatformError):
    """A fact its author may not record now; the reason is told to them (in their language)
    and audited."""


def not_yours(allowed: frozenset[Role]) -> str:
    """Why an office not among ``allowed`` is refused a fact (a message to translate)."""
    if Role.recommender in allowed:
        return N_("Only an officer or the member themselves records this (%(kind)s).")
    if allowed == {Role.teller}:
        return N_("Only a teller enters ballots (%(kind)s).")
    if allowed == {Role.scrutineer}:
        return N_("Only a scrutineer records this (%(kind)s).")
    if Role.scrutineer in allowed:
        return N_("Only the chair or a scrutineer records this (%(kind)s).")
    return N_("Only the chair records this (%(kind)s).")


Count = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
Number = Annotated[StrictInt, Field(ge=1, le=1_000_000)]
Name = Annotated[str, Field(min_length=1, max_length=120)]
Reason = Annotated[str, Field(max_length=500)]


class _Fact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepTaken(_Fact):
    step: Annotated[StrictInt, Field(ge=1, le=9)]


class Roll(_Fact):
    round: Number
    present: Count
    expected: Count


class Exclusion(_Fact):
    member: Number
    reason: Reason
    author: Reason


class Electorate(_Fact):
    members: list[Number] = Field(max_length=100_000)


class SubVenue(_Fact):
    name: Name  # the room's, or the terminal site's
    site: Number | None = None  # the terminal site's id, when it is one


class Venues(_Fact):
    main: Name
    sub: list[SubVenue] = Field(default_factory=list, max_length=100)


class Recommender(_Fact):
    member: Number
    weight: Annotated[StrictInt, Field(ge=0, le=100 * PER_MILLE)]


class RecommendationOpened(_Fact):
    names: Annotated[StrictInt, Field(ge=1, le=100)]  # how many names a set may hold
    weight: Annotated[StrictInt, Field(ge=0, le=100 * PER_MILLE)] = PER_MILLE  # each voter's
    extra: list[Recommender] = Field(default_factory=list, max_length=1000)


class Recommendation(_Fact):
    member: Number
    names: list[Name] = Field(min_length=1, max_length=100)


class CandidatesConfirmed(_Fact):
    candidates: list[Name] = Field(min_length=1, max_length=100)
    by: Reason  # who confirmed them: the committee, as its decision names it


class Closed(_Fact):
    """Nothing but the fact itself."""


class Officers(_Fact):
    scrutineers: list[Name] = Field(min_length=1, max_length=20)
    tellers: list[Name] = Field(min_length=2, max_length=20)


class RoundOpened(_Fact):
    round: Number
    candidates: list[Name] = Field(min_length=1, max_length=100)
    seats: Number
    basis: Basis = Basis.present


class Ballots(_Fact):
    round: Number
    venue: Name
    count: Count


class BallotEntered(_Fact):
    round: Number
    number: Number
    marks: dict[Name, Literal["o", "x", ""]] = Field(max_length=100)
    write_ins: dict[Name, Name] = Field(default_factory=dict, max_length=100)
    corrects: Number | None = None


class Announced(_Fact):
    round: Number
    result: dict[str, Any]


class RoundVoid(_Fact):
    round: Number
    reason: Reason


class Pause(_Fact):
    reason: Reason = ""


SHAPES: dict[str, type[_Fact]] = {
    "electorate": Electorate,
    "venues": Venues,
    "recommendation_opened": RecommendationOpened,
    "recommendation": Recommendation,
    "recommendation_closed": Closed,
    "candidates_confirmed": CandidatesConfirmed,
    "step": StepTaken,
    "officers": Officers,
    "roll": Roll,
    "exclusion": Exclusion,
    "round_opened": RoundOpened,
    "ballots_issued": Ballots,
    "ballots_returned": Ballots,
    "ballot": BallotEntered,
    "settlement": BallotEntered,
    "announced": Announced,
    "adjourned": Pause,
    "resumed": Pause,
    "round_void": RoundVoid,
}
"""What each kind of fact holds; anything else is refused before the procedure looks at it."""


def shaped(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as the record keeps it (defaults filled in, a correction's absent reference
    left out), or Refused naming what is wrong with it."""
    shape = SHAPES.get(kind)
    if shape is None:
        raise Refused(N_("No such fact: %(kind)s."), kind=kind)
    try:
        fact = shape.model_validate(dict(data))
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise Refused(
            N_("The fact is malformed (%(kind)s, %(where)s): %(problem)s"),
            kind=kind,
            where=where or "-",
            problem=problem["msg"],
        ) from None
    return fact.model_dump(mode="json", exclude_none=True)


class Phase(enum.StrEnum):
    """Where the recommendation round stands."""

    none = ""  # not opened (an election may go to the vote without one)
    open = "open"
    closed = "closed"
    confirmed = "confirmed"


@dataclass
class State:
    """Where the election stands, as its record says."""

    step: Step | None = None  # None before the first step is taken
    electorate: frozenset[int] | None = None  # member ids; None until recorded
    venues: frozenset[str] = frozenset()
    phase: Phase = Phase.none
    names: int = 0  # how many names a recommendation set may hold
    weights: dict[int, int] = field(default_factory=dict)  # recommender -> weight, per mille
    recommended: set[str] = field(default_factory=set)  # names some set holds
    given: set[int] = field(default_factory=set)  # recommenders whose set is in
    confirmed: list[str] | None = None  # the initial candidates (初步候选人)
    round: int = 0
    adjourned: bool = False
    present: int = 0
    expected: int = 0
    excluded: dict[int, str] = field(default_factory=dict)  # member -> reason (应到 exclusions)
    issued: dict[str, int] = field(default_factory=dict)
    returned: dict[str, int] = field(default_factory=dict)
    ballots: list[Entry] = field(default_factory=list)  # the round's tellers' entries
    void: bool = False

    @property
    def entitled(self) -> int:
        """应到: the electorate less the members excluded from it."""
        return len((self.electorate or frozenset()) - self.excluded.keys())

    @property
    def quorate(self) -> bool:
        return self.present * QUORUM.denominator > self.expected * QUORUM.numerator


def role_of(entries: Iterable[Mapping[str, Any]], login: str) -> Role | None:
    """What ``login`` is in the election: its chair (named as it opened), or a scrutineer or
    teller as the latest approval of the officers (step 3) names them."""
    role = None
    for entry in entries:
        data = entry["data"]
        if entry["kind"] == "election":
            role = Role.chair if data.get("chair") == login else None
        elif entry["kind"] == "officers" and role is not Role.chair:
            role = (
                Role.scrutineer
                if login in data.get("scrutineers", [])
                else Role.teller
                if login in data.get("tellers", [])
                else None
            )
    return role


def state_of(entries: Iterable[Mapping[str, Any]]) -> State:
    """The state the record leaves the election in."""
    state = State()
    for entry in entries:
        apply(state, entry)
    return state


def apply(state: State, entry: Mapping[str, Any]) -> None:
    """``state`` as ``entry`` leaves it."""
    kind, data = entry["kind"], entry["data"]
    if kind == "step":
        state.step = Step(data["step"])
        if state.step is Step.attendance:
            state.round += 1
            state.issued, state.returned, state.ballots, state.void = {}, {}, [], False
    elif kind == "roll":
        state.present, state.expected = data["present"], data["expected"]
    elif kind == "electorate":
        state.electorate = frozenset(data["members"])
    elif kind == "venues":
        state.venues = frozenset([data["main"], *(venue["name"] for venue in data["sub"])])
    elif kind == "recommendation_opened":
        state.phase, state.names = Phase.open, data["names"]
        state.weights = recommender_weights(state.electorate or (), data)
    elif kind == "recommendation":
        state.given.add(data["member"])
        state.recommended.update(data["names"])
    elif kind == "recommendation_closed":
        state.phase = Phase.closed
    elif kind == "candidates_confirmed":
        state.phase, state.confirmed = Phase.confirmed, list(data["candidates"])
    elif kind == "exclusion":
        state.excluded[data["member"]] = data["reason"]
    elif kind == "ballots_issued":
        state.issued[data["venue"]] = data["count"]
    elif kind == "ballots_returned":
        state.returned[data["venue"]] = data["count"]
    elif kind in ("ballot", "settlement"):
        state.ballots.append(ballot_entry(entry))
    elif kind in ("adjourned", "resumed"):
        state.adjourned = kind == "adjourned"
    elif kind == "round_void":
        state.void = True


def check(state: State, role: Role, kind: str, data: Mapping[str, Any]) -> None:
    """Refused unless ``role`` may record ``kind`` now (raises with the reason)."""
    allowed = WHO.get(kind)
    if allowed is None:
        raise Refused(N_("No such fact: %(kind)s."), kind=kind)
    if role not in allowed:
        raise Refused(not_yours(allowed), kind=kind)
    if state.adjourned and kind != "resumed":
        raise Refused(N_("The election is adjourned: nothing is recorded until it resumes."))
    if kind == "round_void" and not str(data.get("reason", "")).strip():
        raise Refused(N_("A void round needs its reason on the record."))
    if kind == "step":
        _check_step(state, Step(data["step"]))
        return
    if kind in BEFORE_THE_VOTE:
        if state.step is not None:
            raise Refused(
                N_("This is recorded before the vote's first step (%(kind)s)."), kind=kind
            )
        _check_before_the_vote(state, kind, data)
        return
    steps = WHEN.get(kind)
    if steps is not None and state.step not in steps:
        raise Refused(N_("This is not recorded in this step (%(kind)s)."), kind=kind)
    if kind in ROUND_FACTS and data.get("round") != state.round:
        raise Refused(N_("This is round %(round)s."), round=state.round)
    if kind == "exclusion":
        if not (str(data.get("reason", "")).strip() and data.get("author")):
            raise Refused(N_("An exclusion from 应到 needs its reason and who consented."))
        if data["member"] not in (state.electorate or ()):
            raise Refused(N_("Member %(member)s is not in the electorate."), member=data["member"])
        if data["member"] in state.excluded:
            raise Refused(N_("Member %(member)s is excluded already."), member=data["member"])
    elif kind == "roll" and data["expected"] != state.entitled:
        raise Refused(
            N_("应到 is %(entitled)s (the electorate less its exclusions), not %(given)s."),
            entitled=state.entitled,
            given=data["expected"],
        )
    elif kind in ("ballots_issued", "ballots_returned") and data["venue"] not in state.venues:
        raise Refused(N_("%(venue)s is not one of the election's venues."), venue=data["venue"])
    elif kind == "round_opened" and not _on_the_ballot(state, data):
        raise Refused(N_("The first round's candidates are the ones the committee confirmed."))


def _on_the_ballot(state: State, data: Mapping[str, Any]) -> bool:
    """Whether a round's candidates may be these: the first round's are the initial candidates
    when a recommendation round confirmed them (in any ballot order); a later round's are
    whoever the chair announces (a run-off, or a further round for unfilled seats)."""
    if state.confirmed is None or data["round"] != 1:
        return True
    return sorted(data["candidates"]) == sorted(state.confirmed)


def _check_before_the_vote(state: State, kind: str, data: Mapping[str, Any]) -> None:
    """The electorate and venues, then the recommendation round: opened on the electorate,
    one set from each who may recommend, closed, and its initial candidates confirmed."""
    if kind in ("electorate", "recommendation_opened") and state.phase is not Phase.none:
        raise Refused(N_("The recommendation round has opened: who may recommend is settled."))
    if kind == "electorate" and len(set(data["members"])) != len(data["members"]):
        raise Refused(N_("A member is in the electorate twice."))
    elif kind == "venues":
        names = [data["main"], *(venue["name"] for venue in data["sub"])]
        if len(set(names)) != len(names):
            raise Refused(N_("Two venues have one name."))
    elif kind == "recommendation_opened":
        if state.electorate is None:
            raise Refused(N_("The electorate is recorded before the recommendation round opens."))
        extra = [recommender["member"] for recommender in data["extra"]]
        if len(set(extra)) != len(extra) or set(extra) & state.electorate:
            raise Refused(N_("An extra recommender is named twice or is in the electorate."))
    elif kind in ("recommendation", "recommendation_closed") and state.phase is not Phase.open:
        raise Refused(N_("The recommendation round is not open."))
    elif kind == "candidates_confirmed" and state.phase is not Phase.closed:
        raise Refused(
            N_("The initial candidates are confirmed once the recommendation round closes.")
        )
    if kind == "recommendation":
        if data["member"] not in state.weights:
            raise Refused(
                N_("Member %(member)s may not recommend in this election."), member=data["member"]
            )
        if data["member"] in state.given:
            raise Refused(
                N_("Member %(member)s has given a recommendation set already."),
                member=data["member"],
            )
        if len(data["names"]) > state.names:
            raise Refused(
                N_("A recommendation set holds at most %(count)s names."), count=state.names
            )
        if len(set(data["names"])) != len(data["names"]):
            raise Refused(N_("A name is recommended twice in one set."))
    elif kind == "candidates_confirmed":
        unknown = [name for name in data["candidates"] if name not in state.recommended]
        if unknown or len(set(data["candidates"])) != len(data["candidates"]):
            raise Refused(
                N_("Not on the ranked list, or named twice: %(names)s"), names="、".join(unknown)
            )
        if not data["by"].strip():
            raise Refused(N_("The confirmation names who confirmed the candidates."))


def _check_step(state: State, step: Step) -> None:
    current = state.step
    if current is None and (state.electorate is None or not state.venues):
        raise Refused(
            N_("The electorate and the venues are recorded before the count of attendance.")
        )
    if current is None and state.phase not in (Phase.none, Phase.confirmed):
        raise Refused(N_("The recommendation round ends with the initial candidates confirmed."))
    if current is None or current is Step.announce or state.void:
        if step is not Step.attendance:
            raise Refused(N_("A round starts with the count of attendance (step 1)."))
        return
    if step != current + 1:
        raise Refused(
            N_("Step %(step)s comes next: steps cannot be skipped."), step=int(current) + 1
        )
    if current is Step.attendance and not state.quorate:
        raise Refused(N_("No quorum: nothing moves past the count of attendance."))
    if current is Step.count:
        _check_count_closes(state)
    if current is Step.reconcile:
        over = reconciliation(state.issued, state.returned)
        if over:
            raise Refused(
                N_("More ballots returned than issued at %(venues)s: void the round."),
                venues="、".join(over),
            )


def _check_count_closes(state: State) -> None:
    """The count closes once every returned ballot counts: each entered by two tellers who
    agree, or settled by a scrutineer."""
    counted = count_entries(state.ballots, state.round)
    open_ = sorted(counted.held + counted.waiting)
    if open_:
        raise Refused(
            N_("Ballots %(numbers)s are not settled: two tellers agree, or a scrutineer settles."),
            numbers="、".join(map(str, open_[:20])),
        )
    returned = sum(state.returned.values())
    if len(counted.agreed) != returned:
        raise Refused(
            N_("%(counted)s ballots counted, %(returned)s returned: enter every returned ballot."),
            counted=len(counted.agreed),
            returned=returned,
        )
