"""Command line for credits: a member's transcript, and a correction."""

import dataclasses
import json
from datetime import datetime
from typing import Annotated, Any

import typer

from core.cli import acting_user, fail, say
from core.db import session_scope, utcnow
from core.errors import PermissionDenied, PlatformError
from core.i18n import N_
from terminals.credits.ledger import correct_credit, credit_year
from terminals.records.permissions import can_correct_record
from terminals.records.transcripts import Transcript, build_transcript, get_record_member

credits = typer.Typer(help="Study credits (学时).", no_args_is_help=True)
AsLogin = Annotated[str | None, typer.Option("--as", help="act as this login")]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    raise TypeError(type(value).__name__)


def transcript_json(transcript: Transcript) -> str:
    """The transcript as JSON, times in ISO 8601 to the second."""
    return json.dumps(dataclasses.asdict(transcript), ensure_ascii=False, default=_plain)


@credits.command("transcript")
def credits_transcript(
    member_id: Annotated[int, typer.Argument(min=1)],
    year: Annotated[int | None, typer.Option(min=2000, max=2100, help="credit year")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    as_login: AsLogin = None,
) -> None:
    """A member's study record for a year, as the account named with --as may see it."""
    try:
        user = acting_user(as_login)
        with session_scope() as session:
            member = get_record_member(session=session, user=user, member_id=member_id)
            transcript = build_transcript(
                session=session, member=member, year=year or credit_year(utcnow())
            )
    except PlatformError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(transcript_json(transcript))
        return
    typer.echo(f"{transcript.name} ({transcript.id_number_masked}) · {transcript.org_name}")
    typer.echo(
        say(
            "%(year)s: %(total)s of %(required)s hours",
            year=transcript.year,
            total=transcript.total,
            required=transcript.requirement,
        )
    )
    for line in transcript.lessons:
        typer.echo(
            f"  {line.title}: {line.coverage:.0%} · {line.played_seconds:.0f} s · "
            f"{line.credited_hours}"
        )


@credits.command("correct")
def credits_correct(
    member_id: Annotated[int, typer.Argument(min=1)],
    hours: Annotated[float, typer.Option(help="hours to add; negative to take back")],
    reason: Annotated[str, typer.Option(help="why (kept with the entry)")],
    entry: Annotated[int | None, typer.Option(help="the ledger entry corrected")] = None,
    year: Annotated[int | None, typer.Option(min=2000, max=2100, help="credit year")] = None,
    as_login: AsLogin = None,
) -> None:
    """Add a compensating ledger entry; prints its id."""
    try:
        user = acting_user(as_login)
        with session_scope() as session:
            member = get_record_member(session=session, user=user, member_id=member_id)
            if not can_correct_record(user, member):
                raise PermissionDenied(
                    N_("Only an administrator of the member's organisation corrects credits.")
                )
            written = correct_credit(
                session=session,
                actor=user,
                member=member,
                hours=hours,
                reason=reason,
                year=year,
                corrects_id=entry,
            )
            entry_id = written.id
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(entry_id)
