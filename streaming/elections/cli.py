"""Command line for elections: ``list`` them, ``export ID --out FILE`` one's record, and
``verify FILE`` a record offline (no database, no server key): exit 0 when the chain is intact,
every signature holds and the results recomputed from the entries are the ones announced; else
1, naming the first bad entry (or part). Records are public: these change nothing."""

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select

from core.cli import fail, say
from core.db import session_scope
from core.errors import PlatformError
from core.i18n import N_
from core.migrate import ensure_schema
from streaming.elections.models import Election, ElectionEntry
from streaming.elections.record import verify
from streaming.elections.service import export

elections = typer.Typer(help="Elections (公推直选): their public records.", no_args_is_help=True)


@elections.command("verify")
def verify_command(
    file: Annotated[Path, typer.Argument(help="an exported election record (JSON)")],
) -> None:
    """Check an exported election record, offline."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        typer.secho(
            say(N_("Cannot read %(file)s: %(reason)s"), file=str(file), reason=exc.strerror),
            fg="red",
            err=True,
        )
        raise typer.Exit(code=2) from None
    problem = verify(data)
    if problem is not None:
        where = (
            say(N_("entry %(seq)s"), seq=problem.entry)
            if problem.entry is not None
            else problem.part
        )
        typer.secho(
            say(
                N_("The record does not verify: %(where)s: %(problem)s"),
                where=where,
                problem=say(problem.what),
            ),
            fg="red",
            err=True,
        )
        raise typer.Exit(code=1)
    typer.secho(
        say(N_("The record verifies: its entries are linked and signed, and its results counted.")),
        fg="green",
    )


@elections.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Every election, with its record's length (their records are public)."""
    ensure_schema()
    with session_scope() as session:
        rows = [
            {"id": e.id, "title": e.title, "org": e.org.name, "entries": count}
            for e, count in session.execute(
                select(Election, func.count(ElectionEntry.id))
                .outerjoin(ElectionEntry, ElectionEntry.election_id == Election.id)
                .group_by(Election.id)
                .order_by(Election.id)
            ).all()
        ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        typer.echo(f"{row['id']:>4}  {row['title']}  {row['org']}  {row['entries']}")


@elections.command("export")
def export_command(
    election_id: Annotated[int, typer.Argument(help="the election's id")],
    out: Annotated[Path, typer.Option("--out", help="the file to write")],
) -> None:
    """Write an election's record for anyone to verify (`yuanjiao elections verify`)."""
    ensure_schema()
    try:
        with session_scope() as session:
            data = export(session, election_id)
    except PlatformError as exc:
        raise fail(exc) from None
    out.write_bytes(data)
    typer.echo(str(out))
