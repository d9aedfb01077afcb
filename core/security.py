"""Secrets at rest: argon2 password hashes, keyed hashes and masks for ID-card numbers."""

import hashlib
import hmac
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import InvalidInput
from core.i18n import N_

_hasher = PasswordHasher()

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
