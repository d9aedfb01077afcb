"""FastAPI dependencies every router shares: database session, current user, CSRF check."""

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from core.db import session_scope
from core.errors import NotAuthenticated, PermissionDenied
from core.models import User

# Row ids are 32-bit on PostgreSQL: a larger number in a URL is refused as invalid (422), not a 500.
MAX_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def db_session() -> Iterator[Session]:
    """A session per request: committed when the handler returns, rolled back when it raises."""
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(db_session)]


def optional_user(request: Request, session: SessionDep) -> User | None:
    """The logged-in user from the signed session cookie, if any and still active."""
    user_id = request.session.get("user_id")
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or not user.active:
        request.session.clear()
        return None
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]


def current_user(user: OptionalUser) -> User:
    """The logged-in user, or NotAuthenticated (401 for the API, a login redirect for pages)."""
    if user is None:
        raise NotAuthenticated("请先登录 / please log in")
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
        raise PermissionDenied("请求已过期，请刷新页面后重试 / the form expired, reload and retry")
