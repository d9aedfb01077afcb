"""Errors of organisations, people and accounts."""

from core.errors import PermissionDenied


class PasswordChangeRequired(PermissionDenied):
    """The user logged in with a generated or reset password and must choose their own first
    (403 for the API; pages send them to the change-password page)."""
