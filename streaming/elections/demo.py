"""A finished election for the demo content: a branch committee elected at a main venue with
a village learning room as sub-venue, every fact on its record, so a new user sees (and can
verify) a complete one."""

import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Organisation, User
from courseware.demo import DEMO_ROOT
from streaming.elections.models import Election
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
    chair, tellers, scrutineer = (
        "chair:orgadmin",
        ("teller:一号计票人", "teller:二号计票人"),
        "scrutineer:监票人",
    )
    opened = {"round": 1, "candidates": CANDIDATES, "seats": SEATS, "basis": "present"}
    append(session, election, "round_opened", chair, opened)
    present = sum(VENUES.values())
    append(
        session, election, "roll", chair, {"round": 1, "present": present, "expected": present + 2}
    )
    for venue, issued in VENUES.items():
        append(
            session,
            election,
            "ballots_issued",
            chair,
            {"round": 1, "venue": venue, "count": issued},
        )
        append(
            session,
            election,
            "ballots_returned",
            chair,
            {"round": 1, "venue": venue, "count": issued},
        )
    choose = random.Random(2026)
    for number in range(1, present + 1):
        marks = dict.fromkeys(CANDIDATES, "x")
        for name in choose.sample(CANDIDATES, 3 if number != 7 else 4):  # ballot 7: too many ○
            marks[name] = "o"
        entered = {"round": 1, "number": number, "marks": marks}
        append(session, election, "ballot", tellers[0], entered)
        if number == 12:  # the second teller misreads it; the scrutineer settles it from the paper
            misread = {**entered, "marks": {**marks, CANDIDATES[0]: ""}}
            append(session, election, "ballot", tellers[1], misread)
            append(session, election, "settlement", scrutineer, entered)
        else:
            append(session, election, "ballot", tellers[1], entered)
    result = results_of(entries_of(session, election))["1"]
    append(session, election, "announced", chair, {"round": 1, "result": result})
    return election
