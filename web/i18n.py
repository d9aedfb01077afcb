"""The reader's language on the web: picked per request, and wired into Jinja2's i18n extension.

Templates say `{{ _("Text") }}` and `{{ ngettext("%(num)s lesson", "%(num)s lessons", n) }}`;
the callables look the locale up in the template context, so one environment serves every
language at once.
"""

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from starlette.requests import Request

from core.i18n import LOCALES, translations

LANG_COOKIE = "lang"


def pick_locale(request: Request, default: str) -> str:
    """The visitor's locale: ?lang=, then the cookie, then the site default."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LOCALES:
            return candidate
    return default


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(context.get("locale", "en")).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return translations(context.get("locale", "en")).ngettext(singular, plural, count)


@pass_context
def _stored_text(context: Context, text: str | None) -> str:
    """A text stored in English (a failure reason) in the reader's language; no formatting."""
    return translations(context.get("locale", "en")).gettext(text) if text else ""


def install_translations(environment: Environment) -> None:
    """Give `environment` the i18n extension with per-request translations, and the
    `stored_text` function for English texts kept in the database."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext, ngettext=_ngettext, newstyle=True
    )
    environment.globals["stored_text"] = _stored_text
