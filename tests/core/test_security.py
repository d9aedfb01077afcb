"""Passwords, ID-card number validation, keyed hashing and masking."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.security import (
    hash_id_number,
    hash_password,
    id_check_digit,
    mask_id_number,
    normalise_id_number,
    verify_password,
)

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
