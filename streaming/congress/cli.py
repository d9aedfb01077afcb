"""Command line for events: schedule one, list them, and issue the program feed's WHIP token.
Acts as --as LOGIN (default: the first platform admin) and is refused outside that account's
organisations, exactly like the pages."""

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from core.cli import acting_user, fail
from core.db import session_scope
from core.errors import InvalidInput, PlatformError
from core.i18n import N_
from core.localtime import CHINA_TIME, local_time
from streaming.congress.models import Event, EventKind, EventRole
from streaming.congress.rules import Level

events = typer.Typer(help="Live events: congresses and meetings (会议).", no_args_is_help=True)

AsOption = Annotated[
    str | None,
    typer.Option("--as", help="act as this login (default: the first platform admin)"),
]


def parse_start(text: str) -> datetime:
    """An ISO date and time; without an offset it is local time (UTC+8)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(N_("Give the start as YYYY-MM-DD HH:MM.")) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA_TIME)


def event_summary(event: Event) -> dict[str, Any]:
    """An event as the CLI prints it."""
    return {
        "id": event.id,
        "org_id": event.org_id,
        "org": event.org.name,
        "kind": event.kind.value,
        "level": event.level.value,
        "title": event.title,
        "starts_at": local_time(event.starts_at).isoformat(),
        "planned_minutes": event.planned_minutes,
        "status": event.status.value,
        "agenda": [item.title for item in event.agenda],
        "invited": {str(i.member_id): i.role.value for i in event.invitations},
        "sites": [venue.site_id for venue in event.venues],
        "credit_hours": event.credit_hours,
    }


@events.command("add")
def events_add(
    org: Annotated[int, typer.Option(help="organising organisation's id")],
    title: Annotated[str, typer.Option(help="title")],
    starts: Annotated[str, typer.Option(help="start, local time: 2026-12-01 09:00")],
    chair: Annotated[int, typer.Option(help="member id of the chair (主持人)")],
    minutes: Annotated[int, typer.Option(help="planned length in minutes")] = 120,
    kind: Annotated[EventKind, typer.Option(help="congress or meeting")] = EventKind.meeting,
    level: Annotated[
        Level, typer.Option(help="grassroots (quorum > 4/5) or county (> 1/2)")
    ] = Level.grassroots,
    agenda: Annotated[list[str] | None, typer.Option(help="an agenda item (repeat)")] = None,
    invite: Annotated[list[int] | None, typer.Option(help="a participant's member id")] = None,
    presidium: Annotated[list[int] | None, typer.Option(help="a presidium member's id")] = None,
    speaker: Annotated[list[int] | None, typer.Option(help="a speaker's member id")] = None,
    observer: Annotated[list[int] | None, typer.Option(help="an observer's member id")] = None,
    site: Annotated[list[int] | None, typer.Option(help="a sub-venue site's id")] = None,
    credit_hours: Annotated[float, typer.Option(help="credit for attending")] = 0.0,
    course: Annotated[
        int | None, typer.Option(help="the course its recording joins as a lesson")
    ] = None,
    as_login: AsOption = None,
) -> None:
    """Schedule an event; prints its id last."""
    # Imported here, not above: scheduling notifies the invited, and the notifier reads the
    # settings as it loads; bad settings must reach the user as `fail`'s one line.
    from streaming.congress.service import create_event

    invitees: dict[int, EventRole] = {}
    for role, ids in (
        (EventRole.participant, invite),
        (EventRole.observer, observer),
        (EventRole.speaker, speaker),
        (EventRole.presidium, presidium),
        (EventRole.chair, [chair]),
    ):
        invitees.update(dict.fromkeys(ids or [], role))
    try:
        actor = acting_user(as_login)
        with session_scope() as session:
            event = create_event(
                session=session,
                actor=actor,
                org_id=org,
                title=title,
                kind=kind,
                level=level,
                starts_at=parse_start(starts),
                planned_minutes=minutes,
                agenda=agenda or [],
                invitees=invitees,
                site_ids=site or [],
                recording_course_id=course,
                credit_hours=credit_hours,
            )
            event_id = event.id
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(event_id)


@events.command("list")
def events_list(
    as_login: AsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The events the account administers or is invited to, soonest first."""
    from streaming.congress.service import visible_events  # as in events_add

    try:
        actor = acting_user(as_login)
        with session_scope() as session:
            rows = [event_summary(e) for e in session.scalars(visible_events(actor))]
    except PlatformError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        typer.echo(
            f"{row['id']:>6}  {row['starts_at'][:16]}  {row['status']:<9} {row['title']}"
            f" · {row['org']}"
        )


@events.command("whip-token")
def events_whip_token(
    event_id: Annotated[int, typer.Argument(metavar="EVENT", help="the event's id")],
    as_login: AsOption = None,
) -> None:
    """Issue the event's WHIP token for the main venue's encoder (OBS: Settings → Stream →
    WHIP, the server and the bearer token printed here); an earlier token stops working.
    Shown once: the platform keeps only its hash."""
    from core.settings import get_settings  # as in events_add
    from streaming.congress.feed import issue_whip_token, whip_url

    try:
        actor = acting_user(as_login)
        with session_scope() as session:
            token = issue_whip_token(session=session, actor=actor, event_id=event_id)
        url = whip_url(get_settings().base_url, event_id)
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(f"WHIP server: {url}")
    typer.echo(f"Bearer token: {token}")
