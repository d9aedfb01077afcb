"""Viewers' questions (观众提问): a viewer of the broadcast sends one in from the watch page; the
chair (whoever moderates the meeting) sees those waiting in the room and puts one on screen or
dismisses it. The one on screen shows as text beside the picture, on the watch page and in the
room, until the chair takes it off or shows another. Each moderation is in the audit log, with
who and when; the question keeps its latest.

Who may ask is the caller's to check (a viewer who may watch the event; an anonymous viewer of
a public election's page gives a name): this module takes an optional user and a name, and
limits how many questions one user, or one address, sends a minute.
"""

import hashlib
import hmac
from datetime import timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.i18n import N_
from core.people.accounts import address_key
from core.people.models import Member, User
from core.security import signing_key
from streaming.congress.models import CLOSED_EVENT, Event, Question, QuestionStatus
from streaming.congress.service import get_event, invited_as, moderates

TEXT_LIMIT = 300
NAME_LIMIT = 60
PER_MINUTE = 3
"""Questions one user (or one address, for anonymous viewers) may send a minute."""
PENDING_SHOWN = 100
"""Waiting questions listed to the chair, oldest first."""

Moderation = Literal["show", "dismiss", "done"]
MODERATIONS: dict[str, tuple[frozenset[QuestionStatus], QuestionStatus, str]] = {
    "show": (
        frozenset({QuestionStatus.pending, QuestionStatus.done}),
        QuestionStatus.on_screen,
        "question_shown",
    ),
    "dismiss": (
        frozenset({QuestionStatus.pending}),
        QuestionStatus.dismissed,
        "question_dismissed",
    ),
    "done": (frozenset({QuestionStatus.on_screen}), QuestionStatus.done, "question_taken_off"),
}
"""Each moderation: the states it applies to, the state it leaves, its audit action."""


def asker_key(user: User | None, address: str) -> str:
    """Whom the rate limit counts: the user, else their address (IPv6 by /64), keyed-hashed so
    that no address is stored."""
    if user is not None:
        return f"u{user.id}"
    digest = hmac.new(signing_key("question-asker"), address_key(address).encode(), hashlib.sha256)
    return "a" + digest.hexdigest()[:40]


def ask_question(
    *, session: Session, event: Event, user: User | None, name: str, text: str, address: str
) -> Question:
    """Send in a question to the chair of ``event`` (one the asker may watch), under ``name``
    (a logged-in user's own name when none is given)."""
    text, name = text.strip(), " ".join(name.split())
    if not text:
        raise InvalidInput(N_("Write your question first."))
    if len(text) > TEXT_LIMIT:
        raise InvalidInput(N_("A question has at most %(count)s characters."), count=TEXT_LIMIT)
    if event.status in CLOSED_EVENT:
        raise InvalidInput(N_("The event is over: it takes no more questions."))
    if not name and user is not None:
        member_name = session.scalar(select(Member.name).where(Member.user_id == user.id))
        name = member_name or user.display_name or user.login
    if not name:
        raise InvalidInput(N_("Give the name your question is asked under."))
    key = asker_key(user, address)
    now = utcnow()
    recent = session.scalar(
        select(func.count())
        .select_from(Question)
        .where(Question.asker == key, Question.asked_at >= now - timedelta(minutes=1))
    )
    if (recent or 0) >= PER_MINUTE:
        raise InvalidInput(
            N_("You sent %(count)s questions in the last minute: wait a moment before the next."),
            count=PER_MINUTE,
        )
    question = Question(
        event_id=event.id,
        user_id=user.id if user is not None else None,
        asker=key,
        name=name[:NAME_LIMIT],
        text=text,
        asked_at=now,
    )
    session.add(question)
    session.flush()
    return question


def may_moderate(*, session: Session, actor: User, event: Event) -> bool:
    """The meeting's moderators deal with its questions: the chair and the organisation's
    administrators."""
    _, role = invited_as(session=session, actor=actor, event=event)
    return moderates(actor, event, role)


def moderate_question(
    *,
    session: Session,
    actor: User,
    event_id: int,
    question_id: int,
    action: Moderation,
    address: str = "",
) -> Question:
    """Put a question on screen (taking off the one there), dismiss it, or take it off."""
    event = get_event(session=session, actor=actor, event_id=event_id)
    if not may_moderate(session=session, actor=actor, event=event):
        raise PermissionDenied(N_("Only the chair deals with the viewers' questions."))
    question = session.get(Question, question_id)
    if question is None or question.event_id != event.id:
        raise NotFound(N_("Question %(id)s not found."), id=question_id)
    allowed, after, audited = MODERATIONS[action]
    if question.status not in allowed:
        raise InvalidInput(N_("Another moderator dealt with this question first."))
    now = utcnow()
    if after is QuestionStatus.on_screen:
        for shown in session.scalars(
            select(Question).where(
                Question.event_id == event.id, Question.status == QuestionStatus.on_screen
            )
        ):
            shown.status, shown.moderated_by, shown.moderated_at = (
                QuestionStatus.done,
                actor.id,
                now,
            )
    question.status, question.moderated_by, question.moderated_at = after, actor.id, now
    record(
        session=session,
        action=audited,
        actor=actor,
        target_type="event_question",
        target_id=question.id,
        org_id=event.org_id,
        address=address,
        detail={"event": event.id},
    )
    session.flush()
    return question


def question_on_screen(*, session: Session, event_id: int) -> Question | None:
    return session.scalar(
        select(Question).where(
            Question.event_id == event_id, Question.status == QuestionStatus.on_screen
        )
    )


def pending_questions(*, session: Session, event_id: int) -> list[Question]:
    """The questions waiting for the chair, oldest first."""
    return list(
        session.scalars(
            select(Question)
            .where(Question.event_id == event_id, Question.status == QuestionStatus.pending)
            .order_by(Question.asked_at, Question.id)
            .limit(PENDING_SHOWN)
        )
    )
