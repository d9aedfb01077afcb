"""A finished election for the demo content: a branch committee elected at a main venue with
a village learning room as sub-venue, every fact on its record, so a new user sees (and can
verify) a complete one."""

import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Organisation, User
from courseware.demo import DEMO_ROOT
from streaming.elections.models import Election
from streaming.elections.procedure import Step
from streaming.elections.record import results_of
from streaming.elections.service import append, create_election, entries_of

TITLE = "东村第一党支部委员会换届选举（演示）"
CANDIDATES = ["陈建国", "李秀兰", "王志强", "赵春梅"]
SEATS = 3
VENUES = {"东村党员活动室（主会场）": 22, "西湾远教站点（分会场）": 9}


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
    election = create_election(session=session, actor=actor, org=branch, title=TITLE)
    chair = "chair:orgadmin"
    tellers, scrutineer = ("teller:一号计票人", "teller:二号计票人"), "scrutineer:监票人"

    def fact(kind: str, author: str = chair, **data: Any) -> None:
        append(session, election, kind, author, data)

    present = sum(VENUES.values())
    fact("step", step=Step.attendance)
    fact("roll", round=1, present=present, expected=present + 2)
    fact("step", step=Step.rules)
    fact("step", step=Step.officers)
    fact("officers", scrutineers=["监票人"], tellers=["一号计票人", "二号计票人"])
    fact("step", step=Step.candidates)
    fact("round_opened", round=1, candidates=CANDIDATES, seats=SEATS, basis="present")
    fact("step", step=Step.issue)
    for venue, issued in VENUES.items():
        fact("ballots_issued", round=1, venue=venue, count=issued)
    fact("step", step=Step.cast)
    fact("step", step=Step.reconcile)
    for venue, issued in VENUES.items():
        fact("ballots_returned", round=1, venue=venue, count=issued)
    fact("step", step=Step.count)
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
