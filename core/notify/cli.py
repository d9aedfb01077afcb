"""Command line of the notifier: send a notice to an account (to try the channels out, or to
reach someone from a script). Acts as --as LOGIN, who must manage the recipient's account."""

import json
from typing import Annotated

import typer
from sqlalchemy import select

from core.cli import acting_user, fail
from core.db import session_scope
from core.errors import NotFound, PlatformError
from core.i18n import N_
from core.people.models import User
from core.people.permissions import can_see_user

notices = typer.Typer(help="Notices to accounts (in-app, e-mail, SMS).", no_args_is_help=True)


@notices.command("send")
def notices_send(
    to: Annotated[str, typer.Option("--to", help="the recipient's login")],
    title: Annotated[str, typer.Option()],
    body: Annotated[str, typer.Option()] = "",
    link: Annotated[str, typer.Option(help="a path on this site, such as /me")] = "",
    category: Annotated[str, typer.Option()] = "message",
    as_login: Annotated[
        str | None,
        typer.Option("--as", help="act as this login (default: the first platform admin)"),
    ] = None,
) -> None:
    """Send a notice; prints its deliveries as JSON (e-mail and SMS go out through the worker)."""
    # Imported here: the delivery job reads the settings, which `main` checks first.
    from core.notify.service import delivery_jobs, dispatch, notify

    try:
        actor = acting_user(as_login)
        with session_scope() as session:
            recipient = session.scalar(select(User).where(User.login == to))
            if recipient is None or not can_see_user(actor, recipient):
                raise NotFound(N_("Account %(id)s not found."), id=to)
            sent = notify(
                session=session,
                recipients=[recipient],
                category=category,
                title=title,
                body=body,
                link=link,
            )
            summary = [
                {
                    "notice_id": n.id,
                    "channel": d.channel,
                    "status": d.status.value,
                    "error": d.error,
                }
                for n in sent
                for d in n.deliveries
            ]
            jobs = delivery_jobs(sent)
        dispatch(jobs)
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(json.dumps(summary, ensure_ascii=False))
