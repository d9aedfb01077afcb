"""Accounts: logging in with throttles, sessions held on the server, and passwords (changing
one's own, an admin's reset; the strength policy is in core/people/passwords.py).

A login takes three steps so that no database connection is held while argon2 runs or waits for
a hashing slot (core/api.py says why): `check_login` reads the throttles and the password hash in
one short unit of work, the caller checks the password through `core.security.PasswordSlots`,
and `finish_login` records the outcome (session, throttles, audit) in a second unit.

Failed logins are counted per key in `login_throttles`:

- `account:<login>` for every login typed, known or not, so a lockout says nothing about
  whether the account exists; locked after `login_account_failures`;
- `address:<ip>` (a /64 for IPv6): a larger budget, `login_address_failures`, since a village
  office or a school shares one address;
- `device:<nonce>` instead of both when the browser shows a device cookie from an earlier
  login to this account: strangers' guesses cannot lock the owner out on their own device
  (lockout as denial of service), and the device's attempts get most of the hashing slots
  while strangers' wait (core.security.PasswordSlots).

The first lockout lasts `login_lockout_seconds`; each further failure doubles it, up to
`login_lockout_max_seconds`. A count starts again once its last failure is older than
`login_failure_window_seconds`, and a successful login clears its account and device counts.
An attempt on a locked key is refused before any password check and without another log entry
(the lockout entry covers it), so a flood against locked keys costs one small read per request.
"""

import hashlib
import ipaddress
import math
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.orm import Session, joinedload

from core.audit.service import record
from core.db import UTCDateTime, upsert, utcnow
from core.errors import InvalidInput, NotFound, TemporaryError
from core.i18n import N_
from core.people.models import LoginThrottle, User, UserSession
from core.people.passwords import check_password_strength
from core.people.permissions import can_manage_user
from core.security import hash_password, signing_key
from core.settings import get_settings

DEVICE_COOKIE_DAYS = 180
# last_seen_at is written at most this often per session, not on every request.
SESSION_TOUCH_INTERVAL = timedelta(minutes=5)
# Stale throttle rows are removed at most this often per process.
_PRUNE_INTERVAL_SECONDS = 60.0
_next_prune = 0.0


# --- passwords ---------------------------------------------------------------------------------


def set_password(*, session: Session, user: User, password: str, must_change: bool = False) -> None:
    """Give `user` a new password (checked for strength) and end their sessions; with
    `must_change` (a generated password) they must choose their own at the next login. For
    the CLI and the demo, which may hash in place; requests hash through PasswordSlots."""
    check_password_strength(password, login=user.login)
    _store_password(
        session=session, user=user, password_hash=hash_password(password), must_change=must_change
    )


def _store_password(*, session: Session, user: User, password_hash: str, must_change: bool) -> None:
    user.password_hash = password_hash
    user.must_change_password = must_change
    user.password_changed_at = utcnow()
    revoke_sessions(session=session, user_id=user.id)
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key(user.login)))
    session.flush()


def change_password(
    *,
    session: Session,
    user_id: int,
    old_hash: str,
    new_hash: str,
    address: str,
    user_agent: str,
) -> str:
    """Replace the password the user just proved they know, end every session of theirs and
    return the token of a fresh one for the device they changed it on."""
    user = session.get(User, user_id)
    if user is None or not user.active or user.password_hash != old_hash:
        raise InvalidInput(N_("The password was changed meanwhile: log in again."))
    _store_password(session=session, user=user, password_hash=new_hash, must_change=False)
    _record_about(user, session=session, action="password_changed", actor=user, address=address)
    return start_session(session=session, user=user, address=address, user_agent=user_agent)


def reset_password(
    *, session: Session, actor: User, user_id: int, password_hash: str, address: str
) -> User:
    """Give a user a generated password (hashed by the caller) that they must change at their
    next login; every session of theirs ends and any lockout of the account is lifted."""
    target = session.get(User, user_id)
    # Whoever may switch the account off may reset its password (core/people/permissions.py).
    if target is None or not can_manage_user(actor, target):
        raise NotFound(N_("User %(id)s not found."), id=user_id)
    _store_password(session=session, user=target, password_hash=password_hash, must_change=True)
    _record_about(target, session=session, action="password_reset", actor=actor, address=address)
    return target


def check_unlocked(*, session: Session, login: str) -> None:
    """TemporaryError while the account is locked by failed password checks."""
    row = session.get(LoginThrottle, account_key(login))
    if row is not None and row.locked_until is not None and row.locked_until > utcnow():
        raise locked_error(row.locked_until)


def record_wrong_password(*, session: Session, user_id: int, address: str) -> None:
    """A logged-in user gave a wrong current password: it counts as a failed login (so a
    stolen session cannot be used to guess the password)."""
    user = session.get(User, user_id)
    if user is None:
        return
    attempt = LoginAttempt(login=user.login, address=address, user_agent="", device=None)
    _record_failure(
        session=session,
        attempt=attempt,
        user=user,
        reason="wrong_current_password",
        policy=ThrottlePolicy.from_settings(),
        now=utcnow(),
    )


def locked_error(until: datetime) -> TemporaryError:
    """The error for an attempt on a locked account, device or address."""
    minutes = max(1, math.ceil((until - utcnow()).total_seconds() / 60))
    return TemporaryError(
        N_("Too many failed attempts. Try again in %(minutes)s min."), minutes=minutes
    )


# --- throttling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures lock a key, and for how long."""

    account_failures: int
    address_failures: int
    lockout: timedelta
    lockout_max: timedelta
    window: timedelta

    @classmethod
    def from_settings(cls) -> "ThrottlePolicy":
        """The policy configured by the YUANJIAO_LOGIN_* settings."""
        settings = get_settings()
        return cls(
            account_failures=settings.login_account_failures,
            address_failures=settings.login_address_failures,
            lockout=timedelta(seconds=settings.login_lockout_seconds),
            lockout_max=timedelta(seconds=settings.login_lockout_max_seconds),
            window=timedelta(seconds=settings.login_failure_window_seconds),
        )

    def limit(self, key: str) -> int:
        """Failures that lock `key`."""
        return self.address_failures if key.startswith("address:") else self.account_failures

    def lockout_for(self, failures: int, limit: int) -> timedelta | None:
        """The lockout after the `failures`-th failure: none below the limit, then doubling."""
        if failures < limit:
            return None
        doublings = min(failures - limit, 30)
        return min(self.lockout * 2**doublings, self.lockout_max)


def account_key(login: str) -> str:
    """The throttle key of a typed login (the same for every spelling in upper or lower case)."""
    return f"account:{login.strip().casefold()[:150]}"


def address_key(address: str) -> str:
    """The throttle key of a client address; IPv6 clients are counted per /64 network, since
    one subscriber holds a whole /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"address:{address[:64]}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"address:{ip.ipv4_mapped}"
        return f"address:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"address:{ip}"


def device_key(nonce: str) -> str:
    """The throttle key of a device cookie."""
    return f"device:{nonce[:64]}"


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_key("login-device"), salt="login-device")


def issue_device_token(login: str, nonce: str | None = None) -> str:
    """A signed device cookie value: this browser logged in to `login` before."""
    payload = {"login": login.strip().casefold(), "nonce": nonce or secrets.token_urlsafe(12)}
    return str(_device_serializer().dumps(payload))


def device_nonce(token: str | None, login: str) -> str | None:
    """The nonce of a valid, unexpired device cookie for `login`, if the browser sent one."""
    if not token:
        return None
    try:
        payload = _device_serializer().loads(token, max_age=DEVICE_COOKIE_DAYS * 24 * 3600)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("login") != login.strip().casefold():
        return None
    nonce = payload.get("nonce")
    return nonce if isinstance(nonce, str) else None


def _count_failure(
    *, session: Session, key: str, policy: ThrottlePolicy, now: datetime
) -> tuple[int, datetime | None]:
    """Add one failure to `key` (atomically, as concurrent guesses race) and lock it when the
    count reaches the limit; returns the count and the new lock's end, if any."""
    table = LoginThrottle.__table__.c
    stale = table.last_failure_at < literal(now - policy.window, UTCDateTime())
    at = literal(now, UTCDateTime())
    statement = (
        upsert(session, LoginThrottle)
        .values(key=key, failures=1, first_failure_at=now, last_failure_at=now)
        .on_conflict_do_update(
            index_elements=[table.key],
            set_={
                "failures": case((stale, 1), else_=table.failures + 1),
                "first_failure_at": case((stale, at), else_=table.first_failure_at),
                "last_failure_at": at,
            },
        )
        .returning(table.failures)
    )
    failures = int(session.execute(statement).scalar_one())
    lockout = policy.lockout_for(failures, policy.limit(key))
    if lockout is None:
        return failures, None
    until = now + lockout
    session.execute(
        update(LoginThrottle).where(LoginThrottle.key == key).values(locked_until=until)
    )
    return failures, until


def count_failure(
    *, session: Session, key: str, policy: ThrottlePolicy, now: datetime
) -> datetime | None:
    """Count a failure of another kind than a login (an activation) against `key`, with the
    same doubling lockouts; returns the end of the lock it set, if any."""
    return _count_failure(session=session, key=key, policy=policy, now=now)[1]


def locked_until(*, session: Session, key: str) -> datetime | None:
    """The end of the lock in force on `key`, if there is one."""
    row = session.get(LoginThrottle, key)
    now = utcnow()
    return row.locked_until if row and row.locked_until and row.locked_until > now else None


def prune_throttles(*, session: Session, policy: ThrottlePolicy, now: datetime) -> int:
    """Remove counts whose last failure is older than the window and whose lock has ended."""
    result = session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < now - policy.window,
            (LoginThrottle.locked_until.is_(None)) | (LoginThrottle.locked_until < now),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- logging in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginAttempt:
    """What a login request brings: the typed login, where it comes from, and the nonce of a
    valid device cookie for this login, if any."""

    login: str
    address: str
    user_agent: str
    device: str | None

    @property
    def keys(self) -> list[str]:
        """The throttle keys this attempt counts against."""
        if self.device is not None:
            return [device_key(self.device)]
        return [account_key(self.login), address_key(self.address)]


@dataclass(frozen=True)
class LoginCheck:
    """The first step's findings: the account (if any), its hash, and a lock in force."""

    user_id: int | None
    password_hash: str | None
    locked_until: datetime | None


@dataclass(frozen=True)
class LoginOutcome:
    """The result: the user and their new session token, or why not (a lock that now holds)."""

    user: User | None
    token: str | None
    locked_until: datetime | None


def check_login(*, session: Session, attempt: LoginAttempt) -> LoginCheck:
    """Step one: is any of the attempt's keys locked, and which hash must the password match."""
    now = utcnow()
    locked_until = session.scalar(
        select(LoginThrottle.locked_until)
        .where(LoginThrottle.key.in_(attempt.keys), LoginThrottle.locked_until > now)
        .order_by(LoginThrottle.locked_until.desc())
        .limit(1)
    )
    if locked_until is not None:
        return LoginCheck(user_id=None, password_hash=None, locked_until=locked_until)
    row = session.execute(
        select(User.id, User.password_hash).where(User.login == attempt.login.strip())
    ).one_or_none()
    if row is None:
        return LoginCheck(user_id=None, password_hash=None, locked_until=None)
    return LoginCheck(user_id=row.id, password_hash=row.password_hash, locked_until=None)


def finish_login(
    *,
    session: Session,
    attempt: LoginAttempt,
    check: LoginCheck,
    verified: bool,
    replaced_token: str | None = None,
    policy: ThrottlePolicy | None = None,
) -> LoginOutcome:
    """Step three: start a fresh session for a verified, active account (ending the one the
    browser held, against session fixation), or count the failure and lock what must be."""
    now = utcnow()
    user = session.get(User, check.user_id) if check.user_id is not None else None
    # The hash must still be the one checked: a password changed meanwhile is not accepted.
    genuine = user is not None and verified and user.password_hash == check.password_hash
    if user is not None and genuine and user.active:
        cleared = [account_key(attempt.login)]
        if attempt.device is not None:
            cleared.append(device_key(attempt.device))
        session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(cleared)))
        if replaced_token:
            end_session(session=session, token=replaced_token)
        user.last_login_at = now
        token = start_session(
            session=session, user=user, address=attempt.address, user_agent=attempt.user_agent
        )
        _record_about(
            user,
            session=session,
            action="login",
            actor=user,
            address=attempt.address,
            detail={"known_device": attempt.device is not None},
        )
        return LoginOutcome(user=user, token=token, locked_until=None)
    reason = "unknown_login" if user is None else "inactive" if genuine else "wrong_password"
    locked_until = _record_failure(
        session=session,
        attempt=attempt,
        user=user,
        reason=reason,
        policy=policy or ThrottlePolicy.from_settings(),
        now=now,
    )
    return LoginOutcome(user=None, token=None, locked_until=locked_until)


def _record_failure(
    *,
    session: Session,
    attempt: LoginAttempt,
    user: User | None,
    reason: str,
    policy: ThrottlePolicy,
    now: datetime,
) -> datetime | None:
    """Count a failed password check against the attempt's keys; log it and any lockout."""
    global _next_prune
    org_id = home_org_id(user) if user is not None else None
    common: dict[str, Any] = {
        "session": session,
        "actor_login": attempt.login.strip(),
        "target_type": "user",
        "target_id": user.id if user is not None else "",
        "org_id": org_id,
        "address": attempt.address,
    }
    record(action="login_failed", detail={"reason": reason}, **common)
    latest: datetime | None = None
    for key in attempt.keys:
        failures, until = _count_failure(session=session, key=key, policy=policy, now=now)
        if until is not None:
            kind = key.split(":", 1)[0]
            detail = {"key": kind, "failures": failures, "until": until.isoformat()}
            record(action="lockout", detail=detail, **common)
            latest = until if latest is None else max(latest, until)
    if time.monotonic() >= _next_prune:
        _next_prune = time.monotonic() + _PRUNE_INTERVAL_SECONDS
        prune_throttles(session=session, policy=policy, now=now)
    return latest


def home_org_id(user: User) -> int | None:
    """The organisation an entry about `user` is filed under: that of their first role."""
    return min(user.grants, key=lambda grant: grant.id).org_id if user.grants else None


def _record_about(
    user: User,
    *,
    session: Session,
    action: str,
    actor: User,
    address: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit an action on `user`'s account, filed under their home organisation."""
    record(
        session=session,
        action=action,
        actor=actor,
        target_type="user",
        target_id=user.id,
        org_id=home_org_id(user),
        address=address,
        detail=detail,
    )


# --- sessions -----------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    """Tokens are stored hashed: a copy of the table opens no session. (A token has 256 random
    bits, so a plain SHA-256 suffices.)"""
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(*, session: Session, user: User, address: str, user_agent: str) -> str:
    """Open a login session for `user` and return its token (what the cookie carries); the
    user's ended and expired sessions are cleared away at the same time."""
    now = utcnow()
    session.execute(
        delete(UserSession).where(
            UserSession.user_id == user.id,
            (UserSession.revoked_at.is_not(None)) | (UserSession.expires_at <= now),
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(days=get_settings().session_days),
            address=address[:64],
            user_agent=user_agent[:200],
        )
    )
    session.flush()
    return token


def find_session_user(*, session: Session, token: str) -> User | None:
    """The active user of an open session (with role grants loaded), in one query; last_seen_at
    is written only when it is older than SESSION_TOUCH_INTERVAL."""
    now = utcnow()
    row = (
        session.execute(
            select(User, UserSession.id, UserSession.last_seen_at)
            .join(UserSession, UserSession.user_id == User.id)
            .options(joinedload(User.grants))
            .where(
                UserSession.token_hash == _token_hash(token),
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now,
                User.active,
            )
        )
        .unique()
        .one_or_none()
    )
    if row is None:
        return None
    user, session_id, last_seen_at = row
    if last_seen_at < now - SESSION_TOUCH_INTERVAL:
        session.execute(
            update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now)
        )
    return user


def end_session(*, session: Session, token: str, address: str = "") -> User | None:
    """Log out: end the session of this token (every copy of the cookie); returns its user."""
    row = session.scalar(
        select(UserSession).where(
            UserSession.token_hash == _token_hash(token), UserSession.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    row.revoked_at = utcnow()
    user = session.get(User, row.user_id)
    if user is not None and address:
        _record_about(user, session=session, action="logout", actor=user, address=address)
    return user


def log_out_everywhere(*, session: Session, user: User, address: str) -> int:
    """End every session of `user`, on every device; returns how many were open."""
    ended = revoke_sessions(session=session, user_id=user.id)
    detail = {"everywhere": True, "sessions": ended}
    _record_about(
        user, session=session, action="logout", actor=user, address=address, detail=detail
    )
    return ended


def revoke_sessions(*, session: Session, user_id: int) -> int:
    """End every open login session of a user (logout everywhere, password change, deactivation);
    returns how many were open."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
