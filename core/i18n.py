"""Translations: gettext catalogues (Babel .po files under core/locale), Simplified Chinese first.

Texts are written in English in the code and templates; English is therefore always complete,
and `zh_CN` is the default locale. Code with no reader in front of it (services, jobs) marks its
texts with `N_` and raises or records them in English; the web pages and the CLI translate them
for their reader. `pybabel extract -F babel.cfg` collects every marked text (see the Makefile).
"""

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from core.errors import PlatformError

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("zh_CN", "en")
SOURCE_LOCALE = "en"


def N_(message: str) -> str:  # noqa: N802 - the conventional name of the gettext no-op marker
    """Mark `message` for extraction; it is translated where it is shown."""
    return message


@lru_cache
def translations(locale: str) -> NullTranslations:
    """The catalogue of `locale` (with its plural rule); English needs none."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale == SOURCE_LOCALE or not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def gettext(locale: str, message: str, **values: object) -> str:
    """`message` in `locale`, with its named values filled in."""
    text = translations(locale).gettext(message)
    return text % values if values else text


def ngettext(locale: str, singular: str, plural: str, count: int, **values: object) -> str:
    """The singular or plural form for `count` in `locale`; `%(num)s` is the count."""
    text = translations(locale).ngettext(singular, plural, count)
    return text % {"num": count, **values}


def error_text(locale: str, error: PlatformError) -> str:
    """A platform error's message in `locale`."""
    if not error.message:
        return str(error)
    return gettext(locale, error.message, **error.values)
