"""The study API the web player talks to: issue a playback session, take its beats.

Beats come through `navigator.sendBeacon`, which cannot set headers, so the beat route does not
ask for the CSRF header. What stands in for it: the playback-session id is 128 random bits that
only the page it was issued to knows, and it is bound to the login session that asked for it
(the signed SameSite=Lax cookie, which a cross-site POST does not carry); a beat whose Origin
header names another site is refused as well. Starting a session is an ordinary API call and
does need the CSRF header.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from core.api import SESSION_TOKEN, CurrentUser, SessionDep, verify_csrf
from core.db import utcnow
from core.errors import NotAuthenticated, PermissionDenied
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


def _login_token(request: Request) -> str:
    token = request.session.get(SESSION_TOKEN)
    if not isinstance(token, str):
        raise NotAuthenticated(N_("Please log in."))
    return token


def _same_site(request: Request) -> None:
    """Refuse a beat that a page of another site sent (when the browser says where from)."""
    origin = request.headers.get("origin")
    own = {f"{request.url.scheme}://{request.url.netloc}", get_settings().base_url}
    if origin is not None and origin not in own:
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
    try:
        return BeatIn.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


@router.post(
    "/beats",
    response_model=BeatRead,
    responses={409: {"description": "the playback session has ended; the beat earns nothing"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": BeatIn.model_json_schema()},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
async def beats_record(body: Annotated[BeatIn, Depends(beat_body)], request: Request) -> Any:
    """Take one beat (JSON, sent as application/json or as sendBeacon's text/plain): stored
    once per session and sequence number; a resent one is acknowledged as a duplicate. The
    answer is sent only after the beat's transaction is committed: the process's beat writer
    (writer.py) stores beats that arrive together in one transaction, the login check included,
    so a beat costs no worker thread and no transaction of its own."""
    beat = BeatInput(**body.model_dump())
    token = _login_token(request)
    try:
        outcome = await BEAT_WRITER.write(login_token=token, beat=beat)
    except NotAuthenticated:
        request.session.pop(SESSION_TOKEN, None)
        raise
    except SessionEnded as exc:
        message = error_text(reader_locale(request), exc)
        return JSONResponse({"detail": message, "ended": True}, status_code=409)
    return BeatRead(**vars(outcome))
