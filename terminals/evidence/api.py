"""The study API the web player talks to: issue a playback session, take its beats.

Beats come through `navigator.sendBeacon`, which cannot set headers, so the beat route does not
ask for the CSRF header. What stands in for it: the playback-session id is 128 random bits that
only the page it was issued to knows, and it is bound to the login session that asked for it
(the signed SameSite=Lax cookie, which a cross-site POST does not carry); a beat whose Origin
header names another site is refused as well. Starting a session is an ordinary API call and
does need the CSRF header.

An ordinary beat is taken by BeatIntake, an ASGI middleware, before the router: on a busy server
FastAPI's routing and dependency handling cost more per beat than storing it does.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.api import (
    SESSION_TOKEN,
    CurrentUser,
    SessionDep,
    json_body,
    json_body_schema,
    verify_csrf,
)
from core.db import utcnow
from core.errors import NotAuthenticated, PermissionDenied, PlatformError
from core.i18n import N_, error_text
from core.people.api import reader_locale
from core.settings import get_settings
from courseware.service import get_lesson
from terminals.credits.errors import SessionEnded
from terminals.evidence.schemas import BeatIn, BeatRead, SessionRead, SessionStart
from terminals.evidence.service import BeatInput, lesson_coverage, start_session
from terminals.evidence.writer import BEAT_WRITER

router = APIRouter(prefix="/api/study", tags=["study"])
BEAT_SECONDS = 10
BEATS_PATH = "/api/study/beats"  # the route `beats_record`, and what BeatIntake takes first


def _login_token(request: Request) -> str:
    token = request.session.get(SESSION_TOKEN)
    if not isinstance(token, str):
        raise NotAuthenticated(N_("Please log in."))
    return token


def _from_this_site(request: Request) -> bool:
    """False for a beat that a page of another site sent (when the browser says where from)."""
    origin = request.headers.get("origin")
    return origin is None or origin in (
        f"{request.url.scheme}://{request.url.netloc}",
        get_settings().base_url,
    )


def _same_site(request: Request) -> None:
    if not _from_this_site(request):
        raise PermissionDenied(N_("Beats are taken only from this site's pages."))


@router.post(
    "/sessions",
    response_model=SessionRead,
    status_code=201,
    dependencies=[Depends(verify_csrf)],
)
def sessions_start(
    body: SessionStart, request: Request, session: SessionDep, user: CurrentUser
) -> Any:
    """Start studying a lesson the caller may see: a playback session, the member's only
    active one (any other ends)."""
    lesson = get_lesson(session=session, user=user, lesson_id=body.lesson_id)
    playback = start_session(
        session=session, user=user, lesson=lesson, login_token=_login_token(request), now=utcnow()
    )
    return SessionRead(
        id=playback.id,
        lesson_id=playback.lesson_id,
        member_id=playback.member_id,
        duration=playback.duration,
        beat_seconds=BEAT_SECONDS,
        coverage=lesson_coverage(session=session, playback=playback),
    )


async def beat_body(request: Request) -> BeatIn:
    """The beat in the body, whatever content type sendBeacon gave it (after the same-site
    check, before any database work)."""
    _same_site(request)
    return await json_body(request, BeatIn)


@router.post(
    BEATS_PATH.removeprefix(router.prefix),
    response_model=BeatRead,
    responses={409: {"description": "the playback session has ended; the beat earns nothing"}},
    openapi_extra=json_body_schema(BeatIn, "text/plain"),
)
async def beats_record(body: Annotated[BeatIn, Depends(beat_body)], request: Request) -> Any:
    """Take one beat (JSON, sent as application/json or as sendBeacon's text/plain): stored
    once per session and sequence number; a resent one is acknowledged as a duplicate. The
    answer is sent only after the beat's transaction is committed: the process's beat writer
    (writer.py) stores beats that arrive together in one transaction, the login check included,
    so a beat costs no worker thread and no transaction of its own."""
    token = _login_token(request)
    try:
        outcome = await BEAT_WRITER.write(login_token=token, beat=BeatInput(**body.model_dump()))
    except NotAuthenticated:
        request.session.pop(SESSION_TOKEN, None)
        raise
    except SessionEnded as exc:
        message = error_text(reader_locale(request), exc)
        return JSONResponse({"detail": message, "ended": True}, status_code=409)
    return BeatRead(**vars(outcome))


class BeatIntake:
    """ASGI middleware: stores an ordinary beat and answers it itself, before the router. Any
    other (a body that does not parse, no login, another site's page, a beat the writer refuses
    or could not store) goes on, with its body, to the route `beats_record`, which gives the
    answer or the error in the reader's language; what the writer refused it stored nothing of,
    and a beat stored twice is stored once, so the route may simply take it again. Sits inside
    the session middleware, whose cookie names the login."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != BEATS_PATH:
            await self.app(scope, receive, send)
            return
        received = await _receive_body(receive)  # its size was bounded by BodyLimits
        response = await self._answer(Request(scope), received)
        if response is None:
            await self.app(scope, _replaying(received, receive), send)
        else:
            await response(scope, receive, send)

    async def _answer(self, request: Request, received: list[Message]) -> Response | None:
        if received[-1]["type"] != "http.request" or not _from_this_site(request):
            return None
        token = request.session.get(SESSION_TOKEN)
        if not isinstance(token, str):
            return None
        try:
            body = BeatIn.model_validate_json(b"".join(m.get("body", b"") for m in received))
            beat = BeatInput(**body.model_dump())
            outcome = await BEAT_WRITER.write(login_token=token, beat=beat)
        except (ValidationError, PlatformError, SQLAlchemyError):
            return None
        return Response(BeatRead(**vars(outcome)).model_dump_json(), media_type="application/json")


async def _receive_body(receive: Receive) -> list[Message]:
    """The request's messages up to the end of its body (or the client's going away)."""
    messages = [await receive()]
    while messages[-1]["type"] == "http.request" and messages[-1].get("more_body", False):
        messages.append(await receive())
    return messages


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives `messages` again, then whatever comes next."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
