"""The password policy: what a chosen password must be, and generated one-time passwords."""

import secrets

from core.errors import InvalidInput
from core.i18n import N_

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
# Passwords of 10+ characters with two kinds of character that still head the leaked lists
# (Chinese sites' favourites included), compared in lower case.
COMMON_PASSWORDS = frozenset(
    [
        "1234567890",
        "0123456789",
        "12345678910",
        "123456789a",
        "a123456789",
        "1234567890a",
        "1234567890q",
        "123456abcd",
        "abcd123456",
        "abc1234567",
        "abcdef1234",
        "qwerty1234",
        "qwerty123456",
        "1qaz2wsx3edc",
        "1q2w3e4r5t",
        "1q2w3e4r5t6y",
        "q1w2e3r4t5",
        "zaq12wsxcde3",
        "qwertyuiop1",
        "qazwsxedc123",
        "zxcvbnm123",
        "asdfghjkl1",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "p@ssw0rd123",
        "admin12345",
        "admin123456",
        "administrator1",
        "welcome123",
        "iloveyou12",
        "iloveyou123",
        "woaini1314",
        "woaini123456",
        "5201314520",
        "1314520520",
        "aa123456789",
        "aaa1234567",
        "a1b2c3d4e5",
        "abc123456789",
        "changeme123",
        "letmein123",
        "football123",
        "monkey12345",
        "dragon12345",
        "sunshine123",
        "princess123",
        "superman123",
        "baseball123",
        "computer123",
        "yuanjiao123",
        "yuanjiao2024",
        "yuanjiao2025",
        "yuanjiao2026",
    ]
)
# Letters and digits that cannot be mistaken for one another when read aloud or copied.
_GENERATED_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_GENERATED_LENGTH = 14


# --- passwords --------------------------------------------------------------------------------


def check_password_strength(password: str, *, login: str) -> None:
    """InvalidInput unless a chosen password is long enough, mixes kinds of character, is not
    the login and is not a well-known one."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            N_("A password needs at least %(min)s characters."), min=MIN_PASSWORD_LENGTH
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            N_("A password has at most %(max)s characters."), max=MAX_PASSWORD_LENGTH
        )
    kinds = {
        "lower" if c.islower() else "upper" if c.isupper() else "digit" if c.isdigit() else "other"
        for c in password
    }
    if len(kinds) < 2:
        raise InvalidInput(
            N_("Mix kinds of character: letters with digits, capitals or other signs.")
        )
    folded, name = password.casefold(), login.strip().casefold()
    if name and (name in folded or folded in name):
        raise InvalidInput(N_("The password must not contain the login."))
    if folded in COMMON_PASSWORDS or len(set(folded)) <= 2:
        raise InvalidInput(N_("This password is too common: choose another."))


def check_new_password(*, login: str, current: str, new: str) -> None:
    """The checks of a password change that need no database: strong, and not the old one."""
    check_password_strength(new, login=login)
    if new == current:
        raise InvalidInput(N_("The new password must differ from the current one."))


def generate_password() -> str:
    """A random one-time password (about 80 bits) that passes the strength check."""
    while True:
        password = "".join(secrets.choice(_GENERATED_ALPHABET) for _ in range(_GENERATED_LENGTH))
        try:
            check_password_strength(password, login="")
        except InvalidInput:
            continue
        return password
