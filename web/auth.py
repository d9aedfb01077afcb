"""Logging in and out, and changing one's own password: the pages and their JSON twin.

Requests that check a password are `async`: each reads and writes the database in short units
of work and checks or hashes the password in between through the bounded hashing slots, so no
connection is held while argon2 runs or waits (core/api.py, core/people/accounts.py).
"""

import math
from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from core.api import (
    SESSION_TOKEN,
    SessionDep,
    SessionUser,
    client_address,
    unit_of_work,
    verify_csrf,
)
from core.db import utcnow
from core.errors import InvalidInput, NotAuthenticated, PlatformError, TemporaryError
from core.i18n import N_, error_text, gettext
from core.people import accounts, passwords
from core.people.logins import member_of
from core.people.models import Role, User
from core.security import busy_error, password_slots
from core.settings import get_settings
from web.i18n import pick_locale

router = APIRouter(dependencies=[Depends(verify_csrf)])
DEVICE_COOKIE = "yuanjiao_device"
PASSWORD_PAGE = "/account/password"
WRONG_LOGIN = N_("Wrong login or password.")
REFUSAL_DELAY = 1.0  # seconds before a locked or busy login is answered


def _safe_next(target: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, template, context, status_code=status
    )


def _text(request: Request, error: PlatformError) -> str:
    return error_text(pick_locale(request, get_settings().default_locale), error)


def _login_page(request: Request, next: str, error: str | None, status: int = 200) -> Response:
    context = {"next": _safe_next(next), "error": error, "user": None}
    return _render(request, "login.html", context, status)


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/") -> Response:
    """The login form."""
    return _login_page(request, next, None)


async def _refused(
    request: Request, next: str, error: TemporaryError, *, status: int, retry: int
) -> Response:
    """The answer to an attempt on a locked account, device or address (429), or one that found
    every hashing slot taken (503): given after REFUSAL_DELAY, which costs a sleeping coroutine
    and slows down a guesser who waits for each answer."""
    await anyio.sleep(REFUSAL_DELAY)
    response = _login_page(request, next, _text(request, error), status=status)
    response.headers["Retry-After"] = str(retry)
    return response


def _locked(request: Request, next: str, until: datetime) -> Awaitable[Response]:
    seconds = max(1, math.ceil((until - utcnow()).total_seconds()))
    return _refused(request, next, accounts.locked_error(until), status=429, retry=seconds)


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    login: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password and start a fresh session (against session fixation)."""
    device_token = request.cookies.get(DEVICE_COOKIE)
    attempt = accounts.LoginAttempt(
        login=login,
        address=client_address(request),
        user_agent=request.headers.get("user-agent", ""),
        device=accounts.device_nonce(device_token, login),
    )
    slots, trusted = password_slots(), attempt.device is not None
    try:
        if slots.full(trusted=trusted):  # refused before any database work
            raise busy_error()
        check = await unit_of_work(lambda s: accounts.check_login(session=s, attempt=attempt))
        if check.locked_until is not None:
            return await _locked(request, next, check.locked_until)
        verified = await slots.verify(check.password_hash, password, trusted=trusted)
    except TemporaryError as busy:
        return await _refused(request, next, busy, status=503, retry=2)
    replaced = request.session.get(SESSION_TOKEN)
    outcome = await unit_of_work(
        lambda s: accounts.finish_login(
            session=s,
            attempt=attempt,
            check=check,
            verified=verified,
            replaced_token=replaced if isinstance(replaced, str) else None,
        )
    )
    if outcome.locked_until is not None:
        return await _locked(request, next, outcome.locked_until)
    if outcome.user is None or outcome.token is None:
        message = gettext(pick_locale(request, get_settings().default_locale), WRONG_LOGIN)
        return _login_page(request, next, message, status=401)
    user = outcome.user
    # A member (and nothing else) lands on their own page, if the account has a record.
    only_member = bool(user.grants) and all(g.role is Role.member for g in user.grants)
    if (
        _safe_next(next) == "/"
        and only_member
        and await unit_of_work(lambda s: member_of(session=s, user=user) is not None)
    ):
        next = "/me"
    return _logged_in(request, user, outcome.token, attempt.device, next)


def _logged_in(request: Request, user: User, token: str, device: str | None, next: str) -> Response:
    """Carry on in the new session (the cookie holds its token alone), remember the device for
    this login, and go on: to the password page first when the password must be changed."""
    request.session.clear()
    request.session[SESSION_TOKEN] = token
    target = _safe_next(next)
    if user.must_change_password:
        target = f"{PASSWORD_PAGE}?next={quote(target)}"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        DEVICE_COOKIE,
        accounts.issue_device_token(user.login, device),
        max_age=accounts.DEVICE_COOKIE_DAYS * 24 * 3600,
        path="/login",
        secure=get_settings().https,
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: SessionDep) -> Response:
    """End this session: every copy of its cookie stops working."""
    token = request.session.get(SESSION_TOKEN)
    if isinstance(token, str):
        accounts.end_session(session=session, token=token, address=client_address(request))
    request.session.clear()
    return RedirectResponse("/", status_code=303)


@router.post("/logout/everywhere", include_in_schema=False)
def logout_everywhere(request: Request, session: SessionDep, user: SessionUser) -> Response:
    """End every session of the user, on every device."""
    if user is None:
        raise NotAuthenticated(N_("Please log in."))
    accounts.log_out_everywhere(session=session, user=user, address=client_address(request))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _password_page(
    request: Request, user: User, next: str, error: str | None, status: int = 200
) -> Response:
    context = {
        "user": user,
        "next": _safe_next(next),
        "error": error,
        "min_length": passwords.MIN_PASSWORD_LENGTH,
    }
    return _render(request, "account/password.html", context, status)


@router.get(PASSWORD_PAGE, include_in_schema=False)
def password_page(request: Request, user: SessionUser, next: str = "/") -> Response:
    """The form to change one's own password (the only page open to a user who must)."""
    if user is None:
        raise NotAuthenticated(N_("Please log in."))
    return _password_page(request, user, next, None)


async def _change_password(request: Request, user: User, current: str, new: str) -> None:
    """Check the current password, hash the new one, store it, end every other session and
    carry on in a fresh one; a wrong current password counts as a failed login."""
    passwords.check_new_password(login=user.login, current=current, new=new)
    address = client_address(request)
    await unit_of_work(lambda s: accounts.check_unlocked(session=s, login=user.login))
    slots = password_slots()
    if not await slots.verify(user.password_hash, current, trusted=True):
        await unit_of_work(
            lambda s: accounts.record_wrong_password(session=s, user_id=user.id, address=address)
        )
        raise InvalidInput(N_("The current password is wrong."))
    new_hash = await slots.hash(new)
    token = await unit_of_work(
        lambda s: accounts.change_password(
            session=s,
            user_id=user.id,
            old_hash=user.password_hash,
            new_hash=new_hash,
            address=address,
            user_agent=request.headers.get("user-agent", ""),
        )
    )
    request.session[SESSION_TOKEN] = token


@router.post(PASSWORD_PAGE, include_in_schema=False)
async def password_change(
    request: Request,
    user: SessionUser,
    current_password: Annotated[str, Form()],
    new_password: Annotated[str, Form()],
    new_password_again: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Change one's own password from the form, then go on where the user was headed."""
    if user is None:
        raise NotAuthenticated(N_("Please log in."))
    try:
        if new_password != new_password_again:
            raise InvalidInput(N_("The two new passwords differ."))
        await _change_password(request, user, current_password, new_password)
    except (InvalidInput, TemporaryError) as exc:
        status = 503 if isinstance(exc, TemporaryError) else 400
        return _password_page(request, user, next, _text(request, exc), status)
    return RedirectResponse(_safe_next(next), status_code=303)


class PasswordChange(BaseModel):
    """A request to change one's own password."""

    current_password: str = Field(max_length=passwords.MAX_PASSWORD_LENGTH)
    new_password: str = Field(max_length=passwords.MAX_PASSWORD_LENGTH)


@router.post("/api/account/password", status_code=204, tags=["account"])
async def password_change_api(body: PasswordChange, request: Request, user: SessionUser) -> None:
    """Change one's own password: every other session ends; this one carries on under a new
    token (the response sets the cookie)."""
    if user is None:
        raise NotAuthenticated(N_("Please log in."))
    await _change_password(request, user, body.current_password, body.new_password)
