"""A finished election for the demo content: a branch committee elected by public
recommendation and direct vote (公推直选) at a main venue with a village learning room as
sub-venue, every fact on its record, so a new user sees (and can verify) a complete one: the
branch's members as its electorate (two migrant members left out of 应到 by the meeting's
consent), a recommendation round in which two members of the general branch recommend too
with half a voter's weight, the initial candidates confirmed from its ranked list, the vote."""

import random
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Member, Organisation, User
from core.people.service import add_member
from core.security import id_check_digit
from core.settings import get_settings
from courseware.demo import DEMO_ROOT
from streaming.elections.models import Election
from streaming.elections.procedure import Step, shaped
from streaming.elections.record import results_of
from streaming.elections.service import append, create_election, electorate_fact, entries_of

TITLE = "东村第一党支部委员会换届选举（演示）"
CANDIDATES = ["陈建国", "李秀兰", "王志强", "赵春梅"]
SEATS = 3
VENUES = {"东村党员活动室（主会场）": 22, "西湾远教站点（分会场）": 9}
# The branch's members (those the demo tree has already are not registered again), and two
# members of the general branch who recommend with half a voter's weight.
VOTERS = (
    *CANDIDATES,
    *("王芳", "张伟", "刘洋"),
    *(
        surname + given
        for surname in "孙周吴郑冯褚卫"
        for given in ("德明", "桂英", "建华", "玉兰")
    ),
)
EXTRA = ("钱永福", "何淑珍")
MIGRANTS = 2  # the last voters: working away, left out of 应到 by the meeting's consent
OTHERS = ("周文华", "孙德明")  # recommended too, not confirmed


def load_demo_election(session: Session) -> Election | None:
    """The demo election, once (None when it is there already or the demo tree is not)."""
    if session.scalar(select(Election.id).where(Election.title == TITLE)):
        return None
    branch = session.scalar(select(Organisation).where(Organisation.name == "东村第一党支部"))
    actor = session.scalar(select(User).where(User.login == "orgadmin"))
    if (
        branch is None
        or actor is None
        or not session.scalar(select(Organisation.id).where(Organisation.name == DEMO_ROOT))
    ):
        return None
    _register(session, branch, VOTERS, first=0)
    extra = _register(session, session.get_one(Organisation, branch.parent_id), EXTRA, first=90)
    election = create_election(session=session, actor=actor, org=branch, title=TITLE)
    chair = "chair:orgadmin"
    tellers, scrutineer = ("teller:一号计票人", "teller:二号计票人"), "scrutineer:监票人"

    def fact(kind: str, author: str = chair, /, **data: Any) -> None:
        append(session, election, kind, author, shaped(kind, data))  # as record_fact keeps it

    electorate = electorate_fact(session=session, election=election)
    fact("electorate", **electorate)
    main, sub = list(VENUES)
    fact("venues", main=main, sub=[{"name": sub}])
    fact("recommendation_opened", names=4, weight=1000, extra=[
        {"member": member, "weight": 500} for member in extra
    ])  # fmt: skip
    for number, member in enumerate([*electorate["members"][:-3], *extra]):
        names = list(CANDIDATES)
        if number % 4 == 3:  # a set that leaves one candidate out for another name
            names[number % 3] = OTHERS[number % 8 // 4]
        by_paper = number % 5 == 0  # on paper at the main venue, entered by the chair
        fact("recommendation", chair if by_paper else "recommender", member=member, names=names)
    fact("recommendation_closed")
    fact("candidates_confirmed", candidates=CANDIDATES, by="东村第一党支部委员会")
    present = sum(VENUES.values())
    fact("step", step=Step.attendance)
    for member in electorate["members"][-MIGRANTS:]:
        fact(
            "exclusion",
            member=member,
            reason="外出务工，经党员大会同意不计入应到",
            author="党员大会",
        )
    expected = len(electorate["members"]) - MIGRANTS
    fact("roll", round=1, present=present, expected=expected)
    to_the_count(
        fact,
        scrutineers=["监票人"],
        tellers=["一号计票人", "二号计票人"],
        candidates=CANDIDATES,
        seats=SEATS,
        venues=VENUES,
    )
    choose = random.Random(2026)
    for number in range(1, present + 1):
        marks = dict.fromkeys(CANDIDATES, "x")
        for name in choose.sample(CANDIDATES, 3 if number != 7 else 4):  # ballot 7: too many ○
            marks[name] = "o"
        fact("ballot", tellers[0], round=1, number=number, marks=marks)
        if number == 12:  # the second teller misreads it; the scrutineer settles it from the paper
            fact("ballot", tellers[1], round=1, number=number, marks={**marks, CANDIDATES[0]: ""})
            fact("settlement", scrutineer, round=1, number=number, marks=marks)
        else:
            fact("ballot", tellers[1], round=1, number=number, marks=marks)
    fact("step", step=Step.announce)
    result = results_of(entries_of(session, election))["1"]
    fact("announced", round=1, result=result)
    return election


def to_the_count(
    fact: Callable[..., None],
    *,
    scrutineers: list[str],
    tellers: list[str],
    candidates: list[str],
    seats: int,
    venues: Mapping[str, int],
) -> None:
    """A first round from the adoption of the rules (step 2) to the opening of the count
    (step 8), each fact passed to ``fact(kind, **data)``, every ballot issued coming back: the
    course of the demo election, and of the tests' and the benchmark's."""
    fact("step", step=Step.rules)
    fact("step", step=Step.officers)
    fact("officers", scrutineers=scrutineers, tellers=tellers)
    fact("step", step=Step.candidates)
    fact("round_opened", round=1, candidates=candidates, seats=seats, basis="present")
    fact("step", step=Step.issue)
    for venue, issued in venues.items():
        fact("ballots_issued", round=1, venue=venue, count=issued)
    fact("step", step=Step.cast)
    fact("step", step=Step.reconcile)
    for venue, issued in venues.items():
        fact("ballots_returned", round=1, venue=venue, count=issued)
    fact("step", step=Step.count)


def _register(session: Session, org: Organisation, names: tuple[str, ...], first: int) -> list[int]:
    """The ids of the members of ``org`` with these names, registering those it lacks (with
    made-up, valid ID numbers: serials from ``first``)."""
    ids = []
    for serial, name in enumerate(names, start=first):
        member = session.scalar(select(Member).where(Member.org_id == org.id, Member.name == name))
        if member is None:
            prefix = f"11010219750601{serial:03d}"
            member = add_member(
                session=session,
                org_id=org.id,
                name=name,
                id_number=prefix + id_check_digit(prefix),
                hash_key=get_settings().id_hash_key,
            )
        ids.append(member.id)
    return ids
