"""Limits and formats of the course library's text fields, one rule per kind of field.

The same rule checks a field wherever it comes in: the JSON API (through the schemas), the
pages' forms, tus upload metadata and the CLI. A value that breaks it is refused with a message,
never cut short, so both database engines store exactly what the user typed or nothing.
"""

import re
from dataclasses import dataclass
from pathlib import PurePath

from core.errors import InvalidInput
from core.i18n import N_

# Line breaks and tabs are fine in a description; no other control character is, anywhere.
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\t\n\r\u2028\u2029]")


@dataclass(frozen=True)
class TextRule:
    """How long a field may be, whether it is required, and whether it may span lines."""

    limit: int
    too_long: str
    empty: str | None = None
    multiline: bool = False
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("a text field allows at least one character")

    def check(self, value: str) -> str:
        """The value without surrounding blanks (and NULs, as the database drops them), or
        InvalidInput saying what is wrong with it."""
        text = value.replace("\x00", "").strip()
        if not text and self.empty is not None:
            raise InvalidInput(self.empty)
        if _CONTROL.search(text) or (not self.multiline and _LINE_BREAKS.search(text)):
            raise InvalidInput(N_("The text contains line breaks or control characters."))
        too_many_bytes = self.max_bytes is not None and len(text.encode()) > self.max_bytes
        if len(text) > self.limit or too_many_bytes:
            raise InvalidInput(self.too_long, length=len(text), limit=self.limit)
        return text


COURSE_TITLE = TextRule(
    200,
    N_("The course title has %(length)s characters; at most %(limit)s are allowed."),
    empty=N_("The course needs a title."),
)
LESSON_TITLE = TextRule(
    200,
    N_("The lesson title has %(length)s characters; at most %(limit)s are allowed."),
    empty=N_("The lesson needs a title."),
)
CATEGORY = TextRule(
    60, N_("The category has %(length)s characters; at most %(limit)s are allowed.")
)
DESCRIPTION = TextRule(
    5000,
    N_("The description has %(length)s characters; at most %(limit)s are allowed."),
    multiline=True,
)
# A file name becomes one segment of an object key, a file on the local store: most file
# systems allow 255 bytes there, and the store adds a short prefix for its temporary files.
FILE_NAME = TextRule(
    80,
    N_("The file name has %(length)s characters; at most %(limit)s are allowed."),
    empty=N_("The file has no name."),
    max_bytes=200,
)


def lesson_title(title: str, *, filename: str) -> str:
    """A lesson's title as given, or its file's name without the extension when none is."""
    given = title.replace("\x00", "").strip()
    return LESSON_TITLE.check(given or PurePath(filename.replace("\\", "/")).stem)
