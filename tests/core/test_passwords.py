"""The password policy and generated passwords."""

import pytest

from core.errors import InvalidInput
from core.people.passwords import check_new_password, check_password_strength, generate_password
from tests.factories import PASSWORD

pytestmark = pytest.mark.engine_neutral


@pytest.mark.parametrize(
    ("password", "login"),
    [
        ("short-1A", "x"),  # under 10 characters
        ("onlylowercaseletters", "x"),  # one kind of character
        ("12345678901234", "x"),
        ("李明李明李明李明李明李明", "x"),  # Chinese characters alone are one kind too
        ("wangfang-2024", "WangFang"),  # contains the login, in any case
        ("Password123", "x"),  # a well-known password
        ("woaini1314", "x"),
        ("ab" * 6, "x"),
        ("x" * 257 + "1", "x"),  # too long to be a password anyone types
    ],
)
def test_weak_passwords_are_refused(password: str, login: str) -> None:
    with pytest.raises(InvalidInput):
        check_password_strength(password, login=login)


@pytest.mark.parametrize(
    "password", [PASSWORD, "长城-Great-Wall", "tea4two+biscuits", "2026年9月1日开学了"]
)
def test_strong_passwords_pass(password: str) -> None:
    check_password_strength(password, login="wangfang")


def test_generated_passwords_are_strong_and_different() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        check_password_strength(password, login="")
        assert not set("0O1lI") & set(password)


def test_a_new_password_must_differ_from_the_current_one() -> None:
    with pytest.raises(InvalidInput):
        check_new_password(login="wangfang", current=PASSWORD, new=PASSWORD)
    check_new_password(login="wangfang", current=PASSWORD, new="Another-horse-42")
