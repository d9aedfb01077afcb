"""An election brought to its count, for the tests of the console, the live feed and the watch
page: every fact up to step 8 on the record as the officers would have recorded it (the
electorate as many member ids as are present, the first venue the main one)."""

from typing import Any

from sqlalchemy.orm import Session

from core.people.models import Organisation, User
from streaming.elections.demo import to_the_count
from streaming.elections.models import Election
from streaming.elections.procedure import Step
from streaming.elections.service import append, create_election

CANDIDATES = ["甲", "乙", "丙"]


def election_at_count(
    session: Session,
    org: Organisation,
    chair: User,
    *,
    tellers: tuple[str, str] = ("ji", "suan"),
    scrutineer: str = "jian",
    venues: dict[str, int] | None = None,
    event_id: int | None = None,
) -> Election:
    """Two seats among 甲乙丙, ballots issued and returned at each venue, the count open."""
    venues = venues or {"主会场": 8, "分会场": 2}
    election = create_election(
        session=session, actor=chair, org=org, title="支部委员选举", chair=chair, event_id=event_id
    )

    def fact(kind: str, **data: Any) -> None:
        append(session, election, kind, f"chair:{chair.login}", data)

    present = sum(venues.values())
    main, *subs = venues
    fact("electorate", members=list(range(1, present + 1)))  # member ids, as the record has them
    fact("venues", main=main, sub=[{"name": name} for name in subs])
    fact("step", step=Step.attendance)
    fact("roll", round=1, present=present, expected=present)
    to_the_count(
        fact,
        scrutineers=[scrutineer],
        tellers=list(tellers),
        candidates=CANDIDATES,
        seats=2,
        venues=venues,
    )
    session.commit()
    return election
