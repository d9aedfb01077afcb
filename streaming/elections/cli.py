"""Command line for elections: ``yuanjiao elections verify FILE`` checks an exported record
offline (no database, no server key): exit 0 when the chain is intact, every signature holds and
the results recomputed from the entries are the ones announced; else 1, naming the first bad
entry (or part)."""

from pathlib import Path
from typing import Annotated

import typer

from core.cli import say
from core.i18n import N_
from streaming.elections.record import verify

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
        typer.secho(
            say(N_("The record does not verify: %(problem)s"), problem=str(problem)),
            fg="red",
            err=True,
        )
        raise typer.Exit(code=1)
    typer.secho(
        say(N_("The record verifies: its entries are linked and signed, and its results counted.")),
        fg="green",
    )
