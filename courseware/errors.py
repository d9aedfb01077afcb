"""Errors of the course library."""

from core.errors import InvalidInput


class UploadTooLarge(InvalidInput):
    """The upload is over the configured size limit (answered with 413)."""


class CaptionError(InvalidInput):
    """A caption file breaks a rule; the message names the cue and line where it can."""
