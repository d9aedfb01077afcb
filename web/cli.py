"""The `yuanjiao` command: servers, worker, database, demo content, and each package's commands."""

import logging
from typing import Annotated

import typer
import uvicorn

from core.cli import say
from core.jobs import Worker
from core.migrate import upgrade_database
from core.people.cli import members, orgs, users
from courseware.cli import lessons

app = typer.Typer(help="远教 yuanjiao: distance-education platform.", no_args_is_help=True)
db = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db, name="db")
app.add_typer(orgs, name="orgs")
app.add_typer(users, name="users")
app.add_typer(members, name="members")
app.add_typer(lessons, name="lessons")

# On SIGTERM, requests still open after this long are cut, so a node always stops in time.
GRACE_SECONDS = 5
# On SIGTERM, requests still open after this long are cut, so a node always stops in time.
GRACE_SECONDS = 5
HostOption = Annotated[str, typer.Option(help="address to listen on")]
PortOption = Annotated[int, typer.Option(help="port to listen on")]


@app.callback()
def main() -> None:
    """Configure logging for every command."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import courseware.tasks  # noqa: F401  (registers job types for workers and --wait)


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    upgrade_database()
    typer.echo(say("The database is up to date."))


@app.command()
def demo() -> None:
    """Load the demo content (once) and print the demo accounts."""
    upgrade_database()
    _load_demo()


def _load_demo() -> None:
    from courseware.demo import load_demo

    accounts = load_demo()
    if accounts:
        typer.secho(say("Demo accounts (for a local trial only):"), bold=True)
        for account in accounts:
            typer.echo(f"  {account.role:15} {account.login:10} {account.password}")


@app.command()
def run(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    no_demo: Annotated[bool, typer.Option("--no-demo", help="do not load demo content")] = False,
) -> None:
    """All in one: migrate, load demo content, serve the web app with an in-process worker."""
    from web.app import create_app

    upgrade_database()
    if not no_demo:
        _load_demo()
    typer.secho(f"远教 yuanjiao: http://{host}:{port}/", fg="green", bold=True)
    uvicorn.run(
        create_app(embedded_worker=True),
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=GRACE_SECONDS,
    )


@app.command()
def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    access_log: Annotated[
        bool, typer.Option(help="log every request (off when a proxy in front logs them)")
    ] = True,
) -> None:
    """Web role only (stateless; run any number behind a load balancer)."""
    from web.app import create_app

    upgrade_database()
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        log_level="info",
        proxy_headers=True,
        access_log=access_log,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )


@app.command()
def worker(workers: Annotated[int, typer.Option(help="worker threads")] = 1) -> None:
    """Worker role: run background jobs (transcoding) until stopped."""
    Worker(workers=workers).run()
