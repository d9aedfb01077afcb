"""FastAPI dependencies every router shares: database work, current user, CSRF check.

How a request uses the database. A pooled connection is scarce (a few per process) and a worker
thread is scarce (40 per process). A request that holds one while it waits for the other can lock
the server up for good under load: every thread waiting for a connection, every connection held
by a request waiting for a thread. So a request never holds a connection across a wait:

- dependencies that read (the current user, the lesson in the path) each run as one unit of
  work in one worker thread (`unit_of_work`): connection taken, used and given back before the
  thread returns; what they load comes back detached, fully loaded;
- a handler that needs a session declares `SessionDep`: the session lives for the handler's own
  thread hop and is committed (or rolled back) when the handler returns, before the response is
  sent, so a write the response reports is committed and a failed commit is an error response.
"""

import secrets
from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

import anyio.to_thread
from fastapi import Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from core.db import session_scope
from core.errors import NotAuthenticated, PermissionDenied
from core.i18n import N_
from core.people.accounts import find_session_user
from core.people.errors import PasswordChangeRequired
from core.people.models import User

# Row ids are 32-bit on PostgreSQL: a larger number in a URL is refused as invalid (422), not a 500.
MAX_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def in_session(work: Callable[[Session], T]) -> T:
    """Run `work` with a session of its own, committed when it returns (for threads and jobs)."""
    with session_scope() as session:
        return work(session)


async def unit_of_work(work: Callable[[Session], T]) -> T:
    """Run `work` in a worker thread with a session of its own, committed and closed before the
    thread returns: the request holds no connection while it waits for anything else."""
    return await anyio.to_thread.run_sync(in_session, work)


def db_session() -> Iterator[Session]:
    """The handler's session: committed when the handler returns, before the response is sent."""
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(db_session, scope="function")]


SESSION_TOKEN = "token"


def client_address(request: Request) -> str:
    """The caller's address (the proxy's X-Forwarded-For is trusted by the server command)."""
    return request.client.host if request.client is not None else ""


async def session_user(request: Request) -> User | None:
    """The user of the session whose token the signed cookie carries, if that session is open
    and the user active (detached, with role grants loaded): one small query per request, so a
    logout, a password change or a deactivation ends every copy of the cookie at once."""
    token = request.session.get(SESSION_TOKEN)
    if not isinstance(token, str):
        return None
    user = await unit_of_work(lambda session: find_session_user(session=session, token=token))
    if user is None:
        request.session.pop(SESSION_TOKEN, None)
    return user


SessionUser = Annotated[User | None, Depends(session_user)]


async def optional_user(user: SessionUser) -> User | None:
    """The logged-in user, if any; one who must change a generated or reset password may do
    nothing else first (PasswordChangeRequired)."""
    if user is not None and user.must_change_password:
        raise PasswordChangeRequired(N_("Change your password before you continue."))
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]


def current_user(user: OptionalUser) -> User:
    """The logged-in user, or NotAuthenticated (401 for the API, a login redirect for pages)."""
    if user is None:
        raise NotAuthenticated(N_("Please log in."))
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if token is None:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


async def verify_csrf(request: Request) -> None:
    """Refuse unsafe requests that carry neither the session's token header nor its form field."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if (
        not expected
        or not sent
        or not secrets.compare_digest(str(expected).encode(), sent.encode())
    ):
        raise PermissionDenied(N_("The form has expired: reload the page and try again."))


async def json_body(request: Request, model: type[M]) -> M:
    """The request's JSON body as `model`, parsed by Pydantic straight from the bytes (for an
    upload of hundreds of records, several times faster than FastAPI's decoding the JSON and
    then validating the objects); invalid, the same 422 as FastAPI's own check gives."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def json_body_schema(model: type[BaseModel], *also: str) -> dict[str, object]:
    """`openapi_extra` that documents a route's body read by `json_body` (which the route's
    signature does not show): `model` as JSON, and as each of the media types `also` names."""
    content: dict[str, object] = {"application/json": {"schema": model.model_json_schema()}}
    content.update({media_type: {"schema": {"type": "string"}} for media_type in also})
    return {"requestBody": {"required": True, "content": content}}
