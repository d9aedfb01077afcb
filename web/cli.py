"""The `yuanjiao` command: servers, worker, database, doctor, demo content, each package's commands.

Every command starts the same way (`main`): settings read, and the database schema checked —
brought up to date on the embedded SQLite default, refused in one line on an external database
that `yuanjiao db upgrade` has not migrated yet. A failing engine or a wrong setting ends any
command in one line on stderr and exit code 1, never a traceback (`_Commands`).
"""

import gc
import json
import logging
import socket
import unicodedata
from typing import Annotated, Any

import typer
import uvicorn
from fastapi import FastAPI
from typer.core import TyperGroup
from typer.exceptions import TyperException

from core.cli import fail, say
from core.db import session_scope
from core.health import Check, engine_error, require_engines, run_checks
from core.i18n import N_
from core.jobs import Worker
from core.migrate import ensure_schema, upgrade_database
from core.notify.cli import notices
from core.people.cli import members, orgs, users
from core.settings import get_settings
from courseware.cli import lessons
from streaming.congress.cli import events
from streaming.elections.cli import elections
from terminals.agent.cli import terminal
from terminals.records.cli import credits
from terminals.sites.cli import sites


class _Commands(TyperGroup):
    """The top-level group: what an engine or a setting makes fail is told in one line."""

    # typer.Context is what typer passes; its vendored click declares the base class.
    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        ctx.meta["help"] = any(arg in ctx.help_option_names for arg in args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            problem = engine_error(exc)
            if problem is None:
                raise  # a bug: its traceback is what a report needs
            raise fail(problem) from None


app = typer.Typer(
    cls=_Commands,
    help="远教 yuanjiao: distance-education platform.",
    no_args_is_help=True,
    # A traceback with locals would print settings, URLs and keys.
    pretty_exceptions_show_locals=False,
)
db = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db, name="db")
app.add_typer(orgs, name="orgs")
app.add_typer(users, name="users")
app.add_typer(members, name="members")
app.add_typer(lessons, name="lessons")
app.add_typer(terminal, name="terminal")
app.add_typer(notices, name="notices")
app.add_typer(credits, name="credits")
app.add_typer(sites, name="sites")
app.add_typer(events, name="events")
app.add_typer(elections, name="elections")

# On SIGTERM, requests still open after this long are cut, so a node always stops in time.
GRACE_SECONDS = 5
HostOption = Annotated[str, typer.Option(help="address to listen on")]
PortOption = Annotated[int, typer.Option(help="port to listen on")]
# Commands that work on a database whose schema is behind (they report or fix it).
# terminal: the site agent has no database; elections: `verify` runs offline, anywhere.
_SCHEMA_AGNOSTIC = {"db", "doctor", "terminal", "elections"}
# What every server role needs before it takes a request or a job.
_SERVER_ENGINES = ("database", "storage", "queue")


@app.callback()
def main(ctx: typer.Context) -> None:
    """Configure logging, then make sure the database schema fits this version."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Their chatter (each connection retry, each migration context) is not the operator's news:
    # a failure ends in one line of ours, an applied migration is logged by ensure_schema.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    import core.notify.tasks  # noqa: F401  (the notifier's delivery job, for workers)
    import courseware.tasks  # noqa: F401  (registers job types for workers and --wait)
    import streaming.congress.tasks  # noqa: F401  (event reminders, recurring)
    import terminals.plans.tasks  # noqa: F401  (plan reminders, recurring)
    import terminals.reports.tasks  # noqa: F401  (monthly report cards, recurring)
    import terminals.sync.tasks  # noqa: F401  (digests of the lessons sites download)
    import web.documents  # noqa: F401  (the minutes attached to a meeting's recording)

    if ctx.invoked_subcommand not in _SCHEMA_AGNOSTIC and not ctx.meta.get("help"):
        ensure_schema()


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    upgrade_database()
    typer.echo(say("The database is up to date."))


_LABELS = {
    "database": N_("Database"),
    "migrations": N_("Migrations"),
    "storage": N_("Object store"),
    "queue": N_("Job queue"),
    "ffmpeg": "ffmpeg",
    "disk": N_("Free disk"),
    "jobs": N_("Queue depth"),
}


def _summary(check: Check) -> str:
    facts = check.facts
    if check.name == "database" and facts:
        return f"{facts['engine']} {facts['version']}  {facts['url']}"
    if check.name == "migrations":
        return say("%(current)s (newest %(head)s)", current=facts["current"], head=facts["head"])
    if check.name == "storage" and facts:
        where = facts.get("path") or f"{facts.get('endpoint')}/{facts.get('bucket')}"
        return f"{facts['kind']}  {where}"
    if check.name == "queue" and facts:
        return " ".join(str(facts[k]) for k in ("engine", "version", "url", "path") if k in facts)
    if check.name == "ffmpeg" and facts:
        return str(facts["version"])
    if check.name == "disk":
        return "; ".join(
            say("%(gb)s GB free in %(path)s", gb=f"{p['free_bytes'] / 1024**3:.1f}", path=p["path"])
            for p in facts["places"]
        )
    if check.name == "jobs" and facts:
        return say(
            "%(queued)s jobs queued in the database; %(pending)s pending and %(scheduled)s "
            "scheduled in the queue",
            queued=facts["queued_jobs"],
            pending=facts["queue_pending"],
            scheduled=facts["queue_scheduled"],
        )
    return ""


def _pad(text: str, width: int) -> str:
    """`text` padded to `width` terminal columns (a Chinese character takes two)."""
    columns = sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
    return text + " " * max(width - columns, 1)


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Check every engine (with its version), migrations, ffmpeg, free disk and queue depth."""
    checks = run_checks()
    healthy = all(check.ok for check in checks)
    if as_json:
        report = {
            check.name: {
                "ok": check.ok,
                **check.facts,
                "problem": str(check.problem) if check.problem else None,
            }
            for check in checks
        }
        typer.echo(json.dumps({"ok": healthy, "checks": report}, ensure_ascii=False, indent=2))
    else:
        for check in checks:
            state = say("OK") if check.ok else say("FAILED")
            text = (
                _summary(check)
                if check.problem is None
                else " ".join(say(check.problem.message, **check.problem.values).split())
            )
            colour = "green" if check.ok else "red"
            label = say(_LABELS[check.name])
            typer.echo(f"{_pad(label, 14)}{typer.style(_pad(state, 8), fg=colour)}{text}")
    if not healthy:
        raise typer.Exit(code=1)


@app.command()
def demo() -> None:
    """Load the demo content (once) and print the demo accounts."""
    _load_demo()


def _load_demo() -> None:
    from courseware.demo import load_demo
    from streaming.elections.demo import load_demo_election

    accounts = load_demo()
    with session_scope() as session:
        load_demo_election(session)
    if accounts:
        typer.secho(
            say("Demo accounts (shown only now; each password must be changed at first login):"),
            bold=True,
        )
        for account in accounts:
            typer.echo(f"  {account.role:15} {account.login:10} {account.password}")


def _serve(web_app: FastAPI, **options: Any) -> None:
    """Serve `web_app` with uvicorn until stopped. What was made before serving (modules, the
    app, its routes and templates) lives as long as the process; frozen, it is left out of the
    cyclic collector's full passes, each of which otherwise walked all of it (about 170 ms, with
    every request waiting, and on a busy server about once a second)."""
    gc.collect()
    gc.freeze()
    uvicorn.run(web_app, **options)


@app.command()
def run(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    no_demo: Annotated[bool, typer.Option("--no-demo", help="do not load demo content")] = False,
) -> None:
    """All in one: migrate, load demo content, serve the web app with an in-process worker."""
    from web.app import create_app

    require_engines(*_SERVER_ENGINES, "ffmpeg")
    if not no_demo:
        _load_demo()
    typer.secho(f"远教 yuanjiao: http://{host}:{port}/", fg="green", bold=True)
    _serve(
        create_app(embedded_worker=True, media_url=_media_url(host, port)),
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

    require_engines(*_SERVER_ENGINES)
    _serve(
        create_app(),
        host=host,
        port=port,
        log_level="info",
        proxy_headers=True,
        access_log=access_log,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )


@app.command()
def media(host: HostOption = "127.0.0.1", port: PortOption = 8100) -> None:
    """Media role: hold the meetings placed on this node (their peer connections, broadcast and
    recording). Web nodes reach it at YUANJIAO_MEDIA_URL (else http://HOST:PORT); browsers
    reach its UDP ports directly (see YUANJIAO_MEDIA_ANNOUNCED_ADDRESS)."""
    from web.app import create_media_app

    require_engines(*_SERVER_ENGINES)
    url = _media_url(host, port)
    typer.secho(f"远教 yuanjiao media node: {url}", fg="green", bold=True)
    _serve(
        create_media_app(url),
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=GRACE_SECONDS,
    )


def _media_url(host: str, port: int) -> str:
    """How web nodes reach this process's meetings: the setting, or its own address (its host
    name when it listens on every address)."""
    configured = get_settings().media_url
    if configured:
        return configured.rstrip("/")
    reachable = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    return f"http://{reachable}:{port}"


@app.command()
def worker(workers: Annotated[int, typer.Option(help="worker threads")] = 1) -> None:
    """Worker role: run background jobs (transcoding) until stopped."""
    require_engines(*_SERVER_ENGINES, "ffmpeg")
    Worker(workers=workers).run()
