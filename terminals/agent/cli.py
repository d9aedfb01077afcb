"""`yuanjiao terminal ...`: the site agent's commands (enroll, sync, status)."""

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from core.cli import fail, say
from core.errors import PlatformError
from core.i18n import N_
from terminals.agent.state import AgentDir
from terminals.agent.sync import agent_status, enrol_agent, run_sync

terminal = typer.Typer(help="The site agent: enrol, sync content and records, status.")


@terminal.callback()
def quiet_http() -> None:
    """Each request is not the operator's news: failures end in one line of ours."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


DirOption = Annotated[Path, typer.Option("--dir", help="the agent's directory")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]
QuotaOption = Annotated[
    int | None, typer.Option("--quota", min=0, help="most bytes of content to hold")
]


def _print_json(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@terminal.command("enroll")
def enroll(
    server: Annotated[str, typer.Option("--server", help="the platform's URL")],
    code: Annotated[str, typer.Option("--code", help="the site's one-time enrolment code")],
    directory: DirOption,
    quota: QuotaOption = None,
) -> None:
    """Enrol this agent for a site with its one-time code."""
    try:
        config = enrol_agent(AgentDir(directory), server=server, code=code, quota_bytes=quota)
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(
        say(
            N_("Enrolled for site %(name)s (%(code)s) at %(server)s."),
            name=config.site_name,
            code=config.site_code,
            server=config.server,
        )
    )


@terminal.command("sync")
def sync(
    directory: DirOption,
    as_json: JsonOption = False,
    quota: QuotaOption = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="check the digest of every file held")
    ] = False,
    any_time: Annotated[
        bool, typer.Option("--any-time", help="download now, outside the reception plan too")
    ] = False,
) -> None:
    """Heartbeat, fetch the signed manifest and the content, purge, upload the outbox."""
    agent_dir = AgentDir(directory)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        disable=as_json,
        transient=True,
    )
    task = progress.add_task(say(N_("Downloading")), total=0)
    try:
        with progress:
            summary = run_sync(
                agent_dir,
                quota_bytes=quota,
                verify=verify,
                any_time=any_time,
                on_total=lambda n: progress.update(task, total=n),
                on_bytes=lambda n: progress.advance(task, n),
            )
    except PlatformError as exc:
        raise fail(exc) from exc
    if as_json:
        _print_json(summary.as_dict())
    else:
        typer.echo(
            say(
                N_(
                    "%(complete)d of %(lessons)d lessons held; %(downloaded)d files "
                    "downloaded (%(bytes)d bytes), %(purged)d purged; %(acked)d records "
                    "acknowledged, %(pending)d pending."
                ),
                complete=summary.lessons_complete,
                lessons=summary.lessons,
                downloaded=summary.files_downloaded,
                bytes=summary.bytes_downloaded,
                purged=summary.files_purged,
                acked=summary.records_acked,
                pending=summary.records_pending,
            )
        )
        for error in summary.errors:
            typer.secho(error, fg="yellow", err=True)
    if summary.files_failed:
        raise typer.Exit(code=1)


@terminal.command("status")
def status(directory: DirOption, as_json: JsonOption = False) -> None:
    """What this agent holds and what waits for the server."""
    try:
        report = agent_status(AgentDir(directory))
    except PlatformError as exc:
        raise fail(exc) from exc
    if as_json:
        _print_json(report)
        return
    site = report["site"]
    lines = [
        (N_("Site"), f"{site['name']} ({site['code']}, #{site['id']})"),
        (N_("Server"), report["server"]),
        (N_("Last sync"), report["last_sync_at"] or "-"),
        (N_("Lessons held"), f"{report['lessons_held']} / {report['lessons_assigned']}"),
        (N_("Disk used"), f"{report['disk_used_bytes']:,} B"),
        (N_("Outbox pending"), str(report["outbox_pending"])),
    ]
    for label, value in lines:
        typer.echo(f"{say(label)}: {value}")


@terminal.command("serve")
def serve(
    directory: DirOption,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8765,
) -> None:
    """The site's local player and group sessions, from disk, with or without the server."""
    import uvicorn

    from terminals.agent.local.app import create_app

    agent_dir = AgentDir(directory)
    try:
        app = create_app(agent_dir)
    except PlatformError as exc:
        raise fail(exc) from exc
    if not agent_dir.player_path("js/player.js").is_file():
        typer.secho(
            say(N_("The player's files are not here yet: run `yuanjiao terminal sync` once.")),
            fg="yellow",
            err=True,
        )
    typer.echo(say(N_("The site player is at http://%(host)s:%(port)d/"), host=host, port=port))
    uvicorn.run(app, host=host, port=port, log_level="warning")
