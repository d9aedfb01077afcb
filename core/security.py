"""Secrets: keys derived per purpose, argon2 password hashes computed a few at a time, keyed
hashes and masks for ID-card numbers."""

import hashlib
import hmac
import secrets
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import InvalidInput, TemporaryError
from core.i18n import N_
from core.settings import get_settings

T = TypeVar("T")
_hasher = PasswordHasher()

# What each derived key signs. A key that leaks from one use (a media link in a shared playlist)
# cannot sign anything else (a session cookie, a device token).
PURPOSES = frozenset(
    {
        "session-cookie",
        "media-link",
        "device-token",
        "login-device",
        "terminal-manifest",
        "invitation-code",
        "member-checkin",
        "site-checkin",
        "media-ticket",
        "election-record",
        "question-asker",
    }
)

# GB 11643-1999: weights and check characters of the 18-digit citizen identity number.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches the stored hash (never raises on a bad password)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def derive_key(secret: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived from the master secret with HKDF-SHA256
    (RFC 5869: extract with a fixed salt, expand with the purpose as the info, one block)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}")
    pseudo_random = hmac.new(b"yuanjiao", secret.encode(), hashlib.sha256).digest()
    return hmac.new(pseudo_random, purpose.encode() + b"\x01", hashlib.sha256).digest()


@lru_cache
def signing_key(purpose: str) -> bytes:
    """The configured secret's key for `purpose` ("session-cookie", "media-link", ...)."""
    return derive_key(get_settings().secret_key, purpose)


@lru_cache
def dummy_password_hash() -> str:
    """A hash of a random password with the current parameters: an unknown login is checked
    against it, so that it takes as long as a known one."""
    return _hasher.hash(secrets.token_urlsafe(16))


def busy_error() -> TemporaryError:
    """The answer when every hashing slot is taken and the lane's queue is full."""
    return TemporaryError(N_("The server is busy: please try again in a moment."))


def _verify_or_dummy(password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        verify_password(dummy_password_hash(), password)
        return False
    return verify_password(password_hash, password)


@dataclass(eq=False)
class _Waiter:
    event: anyio.Event = field(default_factory=anyio.Event)
    granted: bool = False


class PasswordSlots:
    """argon2 work a few hashes at a time, on threads of its own.

    Each hash takes 64 MiB and most of a core, so a flood of logins must not start one per
    request: at most `slots` run at once and at most `queue` more wait in each lane, each for at
    most MAX_WAIT seconds; a caller beyond that is told to try again (TemporaryError) instead of
    piling up, and a caller who has gone away meanwhile does not hold a place for long. Waiting
    happens on the event loop, holding no thread and no database connection.

    Trusted callers (a device that logged in before, a logged-in user) wait in a lane of their
    own. While both lanes wait, TRUSTED_TURNS of every TRUSTED_TURNS + 1 freed slots go to it:
    a flood of guesses from strangers cannot keep the regular users out, and strangers (a new
    device among them) are never starved by a busy trusted lane either.
    """

    TRUSTED_TURNS = 3
    MAX_WAIT = 5.0

    def __init__(self, *, slots: int, queue: int) -> None:
        self.slots = slots
        self.queue = queue
        self._free = slots
        self._lanes: dict[bool, deque[_Waiter]] = {True: deque(), False: deque()}
        self._threads = anyio.CapacityLimiter(slots)
        self._trusted_streak = 0

    def full(self, *, trusted: bool) -> bool:
        """Whether a caller of this lane would be refused now (checked before any other work)."""
        return self._free == 0 and len(self._lanes[trusted]) >= self.queue

    async def verify(self, password_hash: str | None, password: str, *, trusted: bool) -> bool:
        """Whether `password` matches `password_hash` (None: an unknown login, checked against
        the dummy hash so it costs the same, and never matches)."""
        return await self.run(_verify_or_dummy, password_hash, password, trusted=trusted)

    async def hash(self, password: str) -> str:
        """An argon2id hash of a new password (asked for by a logged-in user or an admin)."""
        return await self.run(hash_password, password, trusted=True)

    async def run(self, function: Callable[..., T], *args: object, trusted: bool) -> T:
        """Run `function(*args)` on a hashing thread once a slot is free (TemporaryError at
        once when the lane is full)."""
        await self._acquire(trusted)
        try:
            return await anyio.to_thread.run_sync(function, *args, limiter=self._threads)
        finally:
            self._release()

    async def _acquire(self, trusted: bool) -> None:
        if self._free > 0:
            self._free -= 1
            return
        lane = self._lanes[trusted]
        if len(lane) >= self.queue:
            raise busy_error()
        waiter = _Waiter()
        lane.append(waiter)
        try:
            with anyio.move_on_after(self.MAX_WAIT):
                await waiter.event.wait()
        except BaseException:
            self._give_up(waiter, lane)
            raise
        if not waiter.granted:
            self._give_up(waiter, lane)
            raise busy_error()

    def _give_up(self, waiter: _Waiter, lane: deque[_Waiter]) -> None:
        """A waiter leaves: out of the lane, or passing on the slot it was just handed."""
        if waiter.granted:
            self._release()
        else:
            lane.remove(waiter)

    def _release(self) -> None:
        """Hand the slot over to the next waiter (see the class docstring), or free it."""
        trusted, others = self._lanes[True], self._lanes[False]
        if not trusted and not others:
            self._free += 1
            return
        if trusted and (not others or self._trusted_streak < self.TRUSTED_TURNS):
            waiter = trusted.popleft()
            self._trusted_streak += 1
        else:
            waiter = others.popleft()
            self._trusted_streak = 0
        waiter.granted = True
        waiter.event.set()


@lru_cache
def password_slots() -> PasswordSlots:
    """The process-wide password hashing slots, sized by the settings."""
    settings = get_settings()
    return PasswordSlots(slots=settings.password_hash_slots, queue=settings.password_hash_queue)


def normalise_id_number(raw: str) -> str:
    """The canonical form of a citizen ID number, or InvalidInput if it is not a valid one."""
    # Full-width digits (typed in a Chinese input mode) are the same number.
    number = unicodedata.normalize("NFKC", raw).strip().upper()
    well_formed = len(number) == 18 and number.isascii() and number[:17].isdigit()
    if not well_formed or number[17] not in "0123456789X":
        raise InvalidInput(N_("An ID number has 18 characters (the last may be X)."))
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    if _CHECK[total % 11] != number[17]:
        raise InvalidInput(N_("The ID number's check digit is wrong."))
    return number


def id_check_digit(first17: str) -> str:
    """The check character that completes a 17-digit prefix (used to make valid demo numbers)."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def hash_id_number(number: str, *, key: str) -> str:
    """HMAC-SHA256 of a normalised ID number: lookups work, the number cannot be read back."""
    return hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest()


def mask_id_number(number: str) -> str:
    """The ID number as it may be shown: first four and last four characters."""
    return f"{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}"
