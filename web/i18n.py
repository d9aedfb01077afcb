"""Translations with Babel catalogs (.po under web/locale); Simplified Chinese by default.

Templates and messages are written in English; `zh_CN` is the default locale, so every page is
shown in Chinese unless the visitor picks English (?lang=en, remembered in a cookie).
"""

from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po
from starlette.requests import Request

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("zh_CN", "en")
LANG_COOKIE = "lang"


@lru_cache
def catalog(locale: str) -> dict[str, str]:
    """The msgid -> msgstr table of one locale (empty for English, the source language)."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        parsed = read_po(handle, locale=locale)
    return {str(m.id): str(m.string) for m in parsed if m.id and m.string and not m.fuzzy}


def pick_locale(request: Request, default: str) -> str:
    """The visitor's locale: ?lang=, then the cookie, then the site default."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LOCALES:
            return candidate
    return default


def translator(locale: str) -> "Translator":
    """A gettext-like callable for `locale`."""
    return Translator(catalog(locale))


class Translator:
    """Looks messages up in one catalog and formats named placeholders."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def __call__(self, message: str, **values: object) -> str:
        text = self.table.get(message, message)
        return text % values if values else text
