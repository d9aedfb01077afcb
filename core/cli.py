"""What every command shares: the account it acts as, and errors told in the operator's language."""

import typer
from sqlalchemy import select

from core.db import session_scope
from core.errors import ConfigurationError, InvalidInput, PlatformError
from core.i18n import N_, error_text, gettext
from core.people.models import User
from core.people.permissions import is_platform_admin
from core.settings import Settings, get_settings


def _locale() -> str:
    """The operator's language: the configured default, even when other settings are wrong."""
    try:
        return get_settings().default_locale
    except ConfigurationError:
        return str(Settings.model_fields["default_locale"].default)


def say(message: str, **values: object) -> str:
    """`message` in the configured default language (the CLI's reader)."""
    return gettext(_locale(), message, **values)


def fail(exc: PlatformError) -> typer.Exit:
    """Print a platform error for a person, on one line, and give the exit code for it."""
    typer.secho(" ".join(error_text(_locale(), exc).split()), fg="red", err=True)
    return typer.Exit(code=1)


def acting_user(login: str | None) -> User:
    """The account a command acts as: --as LOGIN, or else the first platform admin. Commands
    that change data are scoped to that account's rights, exactly like its pages."""
    with session_scope() as session:
        if login is not None:
            user = session.scalar(select(User).where(User.login == login, User.active))
        else:
            admins = session.scalars(select(User).where(User.active).order_by(User.id))
            user = next((u for u in admins if is_platform_admin(u)), None)
        if user is None:
            raise InvalidInput(
                N_(
                    "No account to act as: add a platform admin with `yuanjiao users add` "
                    "first, or name one with --as."
                )
            )
        return user
