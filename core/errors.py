"""The platform's error tree.

PlatformError
├── NotFound          a record does not exist, or the caller may not know it exists
├── PermissionDenied  the caller is known but lacks the role or scope
├── InvalidInput      a rule about the data was broken (message is shown to the user)
├── TemporaryError    a failure that may pass when tried again (a store or peer is away)
├── NotAuthenticated  the action needs a logged-in user
├── ConfigurationError a setting is missing, malformed or unsafe (the operator must fix it)
└── (package errors)  e.g. courseware's MediaError, storage's StorageError

An error carries an English message id and its named values; `str(error)` is the English text,
and the web pages and the CLI show it translated into the reader's language. The web layer maps
each base class to one HTTP status, once.
"""


class PlatformError(Exception):
    """Base of every error the platform raises on purpose.

    `temporary` says whether the same work may succeed if tried again later; a background job
    is retried only for temporary errors (and for unexpected ones, which are not PlatformErrors).
    """

    temporary = False
    # Whether the message names hosts, endpoints, keys or settings: the log gets it, the person
    # in front of the platform only a generic message (web/app.py).
    internal = False

    def __init__(self, message: str = "", **values: object) -> None:
        self.message = message
        self.values = values
        super().__init__(message % values if values else message)


class NotFound(PlatformError):
    """The record does not exist or is outside the caller's scope."""


class PermissionDenied(PlatformError):
    """The caller lacks the role or the organisation scope for this action."""


class InvalidInput(PlatformError):
    """The request breaks a rule; the message is meant for the user."""


class TemporaryError(PlatformError):
    """A failure that may pass if the same work is tried again later (a store or peer is away)."""

    temporary = True


class NotAuthenticated(PlatformError):
    """The action needs a logged-in user and there is none."""


class ConfigurationError(PlatformError):
    """A setting is missing, malformed or unsafe for the mode; the operator has to change it."""

    internal = True
