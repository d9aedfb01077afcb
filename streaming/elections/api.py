"""JSON API of elections: the state and tally as the record gives them (public for a public
election), and the officers' facts — steps, the roll, ballots issued and returned, the tellers'
ballots, the scrutineers' settlements — each checked by the procedure before it is appended."""

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from core.api import (
    CurrentUser,
    OptionalUser,
    RowId,
    SessionDep,
    unit_of_work,
    verify_csrf,
)
from streaming.congress.questions import question_on_screen
from streaming.congress.questions_api import (
    QuestionAsk,
    QuestionRead,
    QuestionsRead,
    asked,
    question_read,
)
from streaming.elections.live import SSE_HEADERS, LiveFeed, standing
from streaming.elections.service import (
    broadcast_of,
    entries_of,
    get_public_election,
    record_fact,
)

router = APIRouter(prefix="/api/elections", dependencies=[Depends(verify_csrf)], tags=["elections"])


class Fact(BaseModel):
    kind: str = Field(min_length=1, max_length=40)
    data: dict[str, Any] = Field(default_factory=dict)


class Recorded(BaseModel):
    seq: int
    hash: str
    author: str


@router.get("/{election_id}")
def election_state(election_id: RowId, session: SessionDep, user: OptionalUser) -> Any:
    """Where the election stands and the round's count so far, recomputed from the record (what
    the live feed sends; streaming.elections.live)."""
    election = get_public_election(session, user, election_id)
    return standing(election.id, entries_of(session, election))


@router.get("/{election_id}/live")
async def election_live(election_id: RowId, request: Request, user: OptionalUser) -> Response:
    """The standing as server-sent events: now, then after each entry of the record (a public
    election's is answered before the middleware, by web.standings)."""
    election = await unit_of_work(lambda session: get_public_election(session, user, election_id))
    feed: LiveFeed = request.app.state.election_feed
    return StreamingResponse(feed.follow(election.id), headers=SSE_HEADERS)


@router.post("/{election_id}/facts", response_model=Recorded, status_code=201)
def add_fact(
    election_id: RowId,
    fact: Fact,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    background: BackgroundTasks,
) -> Any:
    """A fact on the record in the caller's office; 403 with the reason when the procedure
    refuses it (the refusal is audited). Once it is committed, the live feed sends it."""
    election = get_public_election(session, user, election_id)
    entry = record_fact(
        session=session, election=election, user=user, kind=fact.kind, data=fact.data
    )
    background.add_task(request.app.state.election_feed.recorded, election.id)
    return Recorded(seq=entry.seq, hash=entry.hash, author=entry.author)


@router.post("/{election_id}/questions", status_code=201, response_model=QuestionRead)
def election_question(
    election_id: RowId,
    body: QuestionAsk,
    request: Request,
    session: SessionDep,
    user: OptionalUser,
) -> Any:
    """A viewer of the election's broadcast asks its chair a question: anyone, when the
    election is public (under the name they give; asking is limited per address)."""
    event = broadcast_of(session, get_public_election(session, user, election_id))
    return asked(session, event, user, body, request)


@router.get("/{election_id}/questions", response_model=QuestionsRead)
def election_questions(election_id: RowId, session: SessionDep, user: OptionalUser) -> Any:
    """The question the chair put on screen (the chair moderates in the meeting's room)."""
    event = broadcast_of(session, get_public_election(session, user, election_id))
    shown = question_on_screen(session=session, event_id=event.id)
    return QuestionsRead(
        on_screen=question_read(shown) if shown is not None else None, pending=None
    )
