"""Errors of the course library."""

from core.errors import InvalidInput


class UploadTooLarge(InvalidInput):
    """The upload is over the configured size limit (answered with 413)."""
