"""Derived keys, password hashing and its slots, ID-card number validation, keyed hashing."""

import hashlib
import hmac
import threading
import time
from functools import partial

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput, TemporaryError
from core.security import (
    PURPOSES,
    PasswordSlots,
    derive_key,
    dummy_password_hash,
    hash_id_number,
    hash_password,
    id_check_digit,
    mask_id_number,
    normalise_id_number,
    signing_key,
    verify_password,
)
from core.settings import get_settings

pytestmark = pytest.mark.engine_neutral

VALID = "11010519491231002X"


def test_password_hash_is_argon2_and_verifies() -> None:
    hashed = hash_password("s3cret-pass")
    assert hashed.startswith("$argon2id$")
    assert "s3cret-pass" not in hashed
    assert verify_password(hashed, "s3cret-pass")
    assert not verify_password(hashed, "wrong")
    assert not verify_password("not-a-hash", "s3cret-pass")


def test_valid_id_number_with_x_check_digit() -> None:
    assert normalise_id_number(" 11010519491231002x ") == VALID


@pytest.mark.parametrize("bad", ["", "123", "110105194912310021", "1101051949123100XX", "A" * 18])
def test_invalid_id_numbers_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_id_number(bad)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_digit_completes_any_prefix(prefix: str) -> None:
    number = prefix + id_check_digit(prefix)
    assert normalise_id_number(number) == number


def test_hash_is_keyed_and_mask_hides_the_middle() -> None:
    assert hash_id_number(VALID, key="a") != hash_id_number(VALID, key="b")
    assert VALID not in hash_id_number(VALID, key="a")
    assert mask_id_number(VALID) == "1101**********002X"


def test_full_width_digits_are_the_same_number() -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in VALID)  # "１１０…Ｘ"
    assert normalise_id_number(full_width) == VALID
    with pytest.raises(InvalidInput):
        normalise_id_number("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X")  # other scripts' digits are not ID digits


def test_keys_are_derived_per_purpose() -> None:
    keys = {purpose: derive_key("master", purpose) for purpose in PURPOSES}
    assert len(set(keys.values())) == len(PURPOSES)
    assert all(len(key) == 32 and b"master" not in key for key in keys.values())
    assert derive_key("master", "media-link") == keys["media-link"]
    assert derive_key("other", "media-link") != keys["media-link"]
    # HKDF-SHA256 (RFC 5869) with salt "yuanjiao" and the purpose as info, computed by hand
    extracted = hmac.new(b"yuanjiao", b"master", hashlib.sha256).digest()
    assert keys["session-cookie"] == hmac.new(extracted, b"session-cookie\x01", "sha256").digest()
    with pytest.raises(ValueError):
        derive_key("master", "anything")
    assert signing_key("session-cookie") == derive_key(get_settings().secret_key, "session-cookie")


class Probe:
    """A stand-in for argon2 that records how many run at once and in which order they ran."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.order: list[str] = []

    def work(self, name: str, seconds: float) -> str:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.order.append(name)
        time.sleep(seconds)
        with self.lock:
            self.running -= 1
        return name


def test_hashing_slots_bound_concurrency_and_refuse_beyond_the_queue() -> None:
    slots = PasswordSlots(slots=2, queue=2)
    probe = Probe()
    finished: list[str] = []
    refused: list[float] = []

    async def attempt(name: str) -> None:
        began = time.monotonic()
        try:
            finished.append(await slots.run(probe.work, name, 0.3, trusted=False))
        except TemporaryError:
            refused.append(time.monotonic() - began)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for number in range(7):
                group.start_soon(attempt, f"guess-{number}")

    anyio.run(main)
    assert probe.most == 2
    assert len(finished) == 4 and len(refused) == 3
    assert max(refused) < 0.2  # told at once, not after waiting for a slot
    assert slots._free == 2


def test_trusted_callers_are_served_first_and_a_cancelled_waiter_leaves_no_trace() -> None:
    slots = PasswordSlots(slots=1, queue=5)
    probe = Probe()

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(partial(slots.run, probe.work, "first", 1.0, trusted=False))
            await anyio.sleep(0.05)
            for name in ("stranger-1", "stranger-2"):
                group.start_soon(partial(slots.run, probe.work, name, 0.01, trusted=False))
            await anyio.sleep(0.05)
            with anyio.move_on_after(0.05):  # gives up while waiting
                await slots.run(probe.work, "impatient", 0.01, trusted=True)
            group.start_soon(partial(slots.run, probe.work, "regular", 0.01, trusted=True))

    anyio.run(main)
    assert probe.order == ["first", "regular", "stranger-1", "stranger-2"]
    assert slots._free == 1 and not slots._lanes[True] and not slots._lanes[False]


def test_an_unknown_login_costs_a_real_hash() -> None:
    slots = PasswordSlots(slots=1, queue=0)
    known = hash_password("s3cret-pass")
    assert anyio.run(partial(slots.verify, known, "s3cret-pass", trusted=False))
    began = time.perf_counter()
    assert not anyio.run(partial(slots.verify, None, "s3cret-pass", trusted=False))
    unknown = time.perf_counter() - began
    began = time.perf_counter()
    assert not anyio.run(partial(slots.verify, known, "wrong", trusted=False))
    wrong = time.perf_counter() - began
    assert unknown > 0.3 * wrong and wrong > 0.3 * unknown
    assert dummy_password_hash().startswith("$argon2id$")


def test_a_waiter_gives_up_after_the_longest_wait() -> None:
    slots = PasswordSlots(slots=1, queue=4)
    slots.MAX_WAIT = 0.2
    probe = Probe()
    waited: list[float] = []

    async def wait_in_vain() -> None:
        began = time.monotonic()
        with pytest.raises(TemporaryError):
            await slots.run(probe.work, "late", 0.01, trusted=False)
        waited.append(time.monotonic() - began)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(partial(slots.run, probe.work, "long", 1.0, trusted=False))
            await anyio.sleep(0.05)
            group.start_soon(wait_in_vain)

    anyio.run(main)
    assert probe.order == ["long"] and 0.15 < waited[0] < 0.9
    assert slots._free == 1 and not slots._lanes[False]


def test_strangers_get_a_turn_while_trusted_callers_queue() -> None:
    slots = PasswordSlots(slots=1, queue=10)
    probe = Probe()

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(partial(slots.run, probe.work, "first", 1.0, trusted=True))
            await anyio.sleep(0.1)
            group.start_soon(partial(slots.run, probe.work, "stranger", 0.01, trusted=False))
            for number in range(6):
                group.start_soon(
                    partial(slots.run, probe.work, f"known-{number}", 0.01, trusted=True)
                )

    anyio.run(main)
    # of every four slots handed over while both lanes wait, one goes to the strangers' lane
    assert probe.order.index("stranger") == 4
