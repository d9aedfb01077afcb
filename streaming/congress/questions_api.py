"""JSON API of viewers' questions (streaming.congress.questions), under /api/events/{id}:

- ``POST /questions`` ``{"text": "...", "name": "..."}``: a viewer who may watch the event asks
  (201 with the question);
- ``GET /questions``: the question on screen, for every viewer; and, for the chair, those
  waiting (``pending`` is null for anyone else);
- ``POST /questions/{qid}/show | dismiss | done``: the chair puts it on screen, dismisses it, or
  takes it off the screen (403 for anyone else).
"""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.api import CurrentUser, RowId, SessionDep, client_address
from core.people.models import User
from streaming.congress.models import Event, Question
from streaming.congress.questions import (
    Moderation,
    ask_question,
    may_moderate,
    moderate_question,
    pending_questions,
    question_on_screen,
)
from streaming.congress.service import get_watchable_event

router = APIRouter()
"""Included in streaming.congress.api's router (its prefix, CSRF check and tag)."""


class QuestionAsk(BaseModel):
    text: str = Field(max_length=2000)
    name: str = Field(default="", max_length=200)


class QuestionRead(BaseModel):
    id: int
    name: str
    text: str
    asked_at: datetime
    status: str


class QuestionsRead(BaseModel):
    on_screen: QuestionRead | None
    pending: list[QuestionRead] | None
    """The questions waiting: for the chair only."""


def question_read(question: Question) -> QuestionRead:
    return QuestionRead(
        id=question.id,
        name=question.name,
        text=question.text,
        asked_at=question.asked_at,
        status=question.status.value,
    )


@router.post("/{event_id}/questions", status_code=201, response_model=QuestionRead)
def questions_ask(
    event_id: RowId, body: QuestionAsk, request: Request, session: SessionDep, actor: CurrentUser
) -> Any:
    """A viewer of the broadcast asks the chair a question."""
    event = get_watchable_event(session=session, actor=actor, event_id=event_id)
    return asked(session, event, actor, body, request)


def asked(
    session: Session, event: Event, user: User | None, body: QuestionAsk, request: Request
) -> QuestionRead:
    """``body`` sent in to ``event``'s chair by ``user`` (None: a viewer of a public page)."""
    question = ask_question(
        session=session,
        event=event,
        user=user,
        name=body.name,
        text=body.text,
        address=client_address(request),
    )
    return question_read(question)


@router.get("/{event_id}/questions", response_model=QuestionsRead)
def questions_index(event_id: RowId, session: SessionDep, actor: CurrentUser) -> Any:
    """The question on screen; for the chair, those waiting too."""
    event = get_watchable_event(session=session, actor=actor, event_id=event_id)
    shown = question_on_screen(session=session, event_id=event.id)
    chair = may_moderate(session=session, actor=actor, event=event)
    return QuestionsRead(
        on_screen=question_read(shown) if shown is not None else None,
        pending=[question_read(q) for q in pending_questions(session=session, event_id=event.id)]
        if chair
        else None,
    )


@router.post("/{event_id}/questions/{question_id}/{action}", response_model=QuestionRead)
def questions_moderate(
    event_id: RowId,
    question_id: RowId,
    action: Moderation,
    request: Request,
    session: SessionDep,
    actor: CurrentUser,
) -> Any:
    """The chair puts a question on screen, dismisses it, or takes it off the screen."""
    question = moderate_question(
        session=session,
        actor=actor,
        event_id=event_id,
        question_id=question_id,
        action=action,
        address=client_address(request),
    )
    return question_read(question)
