"""JSON API of elections: the state and tally as the record gives them (public for a public
election), and the officers' facts — steps, the roll, ballots issued and returned, the tellers'
ballots, the scrutineers' settlements — each checked by the procedure before it is appended."""

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from core.api import CurrentUser, OptionalUser, RowId, SessionDep, verify_csrf
from streaming.elections.procedure import state_of
from streaming.elections.record import results_of
from streaming.elections.service import entries_of, get_public_election, record_fact

router = APIRouter(prefix="/api/elections", dependencies=[Depends(verify_csrf)], tags=["elections"])


class Fact(BaseModel):
    kind: str = Field(min_length=1, max_length=40)
    data: dict[str, Any] = Field(default_factory=dict)


class Recorded(BaseModel):
    seq: int
    hash: str
    author: str


class Standing(BaseModel):
    step: int | None
    round: int
    adjourned: bool
    present: int
    expected: int
    quorate: bool
    issued: dict[str, int]
    returned: dict[str, int]
    results: dict[str, Any]
    entries: int


@router.get("/{election_id}", response_model=Standing)
def election_state(election_id: RowId, session: SessionDep, user: OptionalUser) -> Any:
    """Where the election stands and its count so far, recomputed from the record."""
    election = get_public_election(session, user, election_id)
    entries = entries_of(session, election)
    state = state_of(entries)
    return Standing(
        step=state.step,
        round=state.round,
        adjourned=state.adjourned,
        present=state.present,
        expected=state.expected,
        quorate=state.quorate,
        issued=state.issued,
        returned=state.returned,
        results=results_of(entries),
        entries=len(entries),
    )


@router.post("/{election_id}/facts", response_model=Recorded, status_code=201)
def add_fact(election_id: RowId, fact: Fact, session: SessionDep, user: CurrentUser) -> Any:
    """A fact on the record in the caller's office; 403 with the reason when the procedure
    refuses it (the refusal is audited)."""
    election = get_public_election(session, user, election_id)
    entry = record_fact(
        session=session, election=election, user=user, kind=fact.kind, data=fact.data
    )
    return Recorded(seq=entry.seq, hash=entry.hash, author=entry.author)
