"""Errors of organisations, people and accounts."""

from core.errors import PermissionDenied, TemporaryError


class PasswordChangeRequired(PermissionDenied):
    """The user logged in with a generated or reset password and must choose their own first
    (403 for the API; pages send them to the change-password page)."""


class AttemptsLocked(TemporaryError):
    """Too many failed attempts from this address (or on this code): refused for a while
    (429 with Retry-After, unlike a busy server's 503)."""
