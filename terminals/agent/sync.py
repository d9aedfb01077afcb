"""One sync of a site agent: heartbeat, signed manifest, downloads, purge, outbox upload.

The order matters for a small disk: what is no longer assigned is purged before anything new is
fetched, and a lesson is fetched only when all of it fits within the quota and the free disk
(minus a reserve), so a sync never fills the disk; a lesson that does not fit is skipped with a
message and the next one is tried.
"""

import base64
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import PlatformError
from core.i18n import N_
from terminals.agent.client import (
    FileCorrupt,
    ServerAway,
    ServerClient,
    ServerRefused,
    agent_version,
    file_sha256,
)
from terminals.agent.outbox import Outbox
from terminals.agent.state import AgentConfig, AgentDir
from terminals.sync.errors import ManifestRejected
from terminals.sync.signing import open_envelope

# Free disk a sync always leaves alone, whatever the quota says.
DISK_RESERVE = 256 * 1024 * 1024
UPLOAD_BATCH = 200
MANIFEST_FORMAT = 1


@dataclass
class SyncSummary:
    """What one sync did (printed as JSON by `terminal sync --json`)."""

    site_id: int
    manifest_issued_at: str | None = None
    download_allowed: bool = True
    lessons: int = 0
    lessons_complete: int = 0
    lessons_skipped: list[int] = field(default_factory=list)
    files_downloaded: int = 0
    files_verified: int = 0
    files_purged: int = 0
    files_failed: int = 0
    bytes_downloaded: int = 0
    bytes_held: int = 0
    player_files_downloaded: int = 0  # the web player's files (counted apart from lessons)
    player_bytes_downloaded: int = 0
    records_sent: int = 0
    records_acked: int = 0
    records_pending: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain data."""
        return asdict(self)


@dataclass(frozen=True)
class WantedFile:
    """A file of the manifest."""

    path: str
    size: int
    sha256: str
    url: str
    lesson_id: int


def now_iso() -> str:
    """The agent's clock, as ISO 8601 with its offset."""
    return datetime.now(UTC).isoformat()


def boot_time() -> str | None:
    """When this machine was powered on (Linux: from /proc/uptime)."""
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return datetime.fromtimestamp(time.time() - uptime, UTC).isoformat()


def within_windows(windows: list[str], moment: datetime | None = None) -> bool:
    """Whether the local time is inside one of the reception plan's windows ("22:00-06:00"
    crosses midnight); an empty plan, or one the agent cannot read, allows any time."""
    clock = (moment or datetime.now()).strftime("%H:%M")
    readable = False
    for window in windows:
        start, dash, end = str(window).partition("-")
        if not dash or len(start.strip()) != 5 or len(end.strip()) != 5:
            continue
        start, end = start.strip(), end.strip()
        readable = True
        inside = start <= clock < end if start < end else (clock >= start or clock < end)
        if inside:
            return True
    return not readable


def enrol_agent(
    agent_dir: AgentDir, *, server: str, code: str, quota_bytes: int | None = None
) -> AgentConfig:
    """Enrol this directory's agent with a one-time code; a directory enrolled before keeps its
    agent id, outbox and content (its old token is revoked by the server)."""
    client = ServerClient(server)
    try:
        answer = client.enrol(code, socket.gethostname())
    finally:
        client.close()
    previous = agent_dir.load() if agent_dir.exists() else None
    site = answer["site"]
    if previous is not None and previous.site_id != site["id"]:
        previous = None  # another site's directory: start a new sequence
    if quota_bytes is None and previous is not None:
        quota_bytes = previous.quota_bytes
    config = AgentConfig(
        server=server.rstrip("/"),
        site_id=site["id"],
        site_name=site["name"],
        site_code=site["code"],
        device_id=answer["device_id"],
        public_key=answer["public_key"],
        key_id=answer["key_id"],
        quota_bytes=quota_bytes,
    )
    if previous is not None:
        config.agent_id = previous.agent_id
        config.last_manifest_issued_at = previous.last_manifest_issued_at
        config.last_sync_at = previous.last_sync_at
    agent_dir.save_token(answer["token"])
    agent_dir.save(config)
    Outbox(agent_dir.outbox_path)
    return config


def verify_manifest(envelope: object, config: AgentConfig) -> dict[str, Any]:
    """The manifest's payload, if signed by the pinned key, for this site, and not older than
    the last one accepted; ManifestRejected otherwise."""
    payload = open_envelope(envelope, base64.b64decode(config.public_key))
    if payload.get("format") != MANIFEST_FORMAT:
        raise ManifestRejected(N_("The manifest's format is not one this agent knows."))
    if payload.get("site", {}).get("id") != config.site_id:
        raise ManifestRejected(N_("The manifest is for another site."))
    try:
        issued = datetime.fromisoformat(str(payload["issued_at"]))
    except (KeyError, ValueError) as exc:
        raise ManifestRejected(N_("The manifest has no valid issue time.")) from exc
    if config.last_manifest_issued_at is not None and issued < datetime.fromisoformat(
        config.last_manifest_issued_at
    ):
        raise ManifestRejected(
            N_("The manifest is older than the last one this agent accepted (a replay?).")
        )
    return payload


def wanted_files(agent_dir: AgentDir, payload: dict[str, Any]) -> dict[str, WantedFile]:
    """The manifest's files by path; ManifestRejected for a path outside the content folder."""
    wanted: dict[str, WantedFile] = {}
    for lesson in payload.get("lessons", []):
        for entry in lesson["files"]:
            try:
                agent_dir.content_path(entry["path"])
            except ValueError as exc:
                raise ManifestRejected(N_("The manifest names an unsafe file path.")) from exc
            wanted[entry["path"]] = WantedFile(
                entry["path"], int(entry["size"]), entry["sha256"], entry["url"], lesson["id"]
            )
    return wanted


def purge(agent_dir: AgentDir, keep: set[str]) -> int:
    """Delete every file under content/ that the manifest does not name (a `.part` of a wanted
    file stays, to resume); the number of finished files deleted."""
    purged = 0
    if not agent_dir.content.exists():
        return 0
    for path in sorted(agent_dir.content.rglob("*"), reverse=True):
        relative = path.relative_to(agent_dir.content).as_posix()
        if path.is_dir():
            if not any(path.iterdir()):
                path.rmdir()
        elif relative.removesuffix(".part") not in keep:
            purged += not relative.endswith(".part")
            path.unlink()
    return purged


def _held(agent_dir: AgentDir, file: WantedFile, known: dict[str, Any], verify: bool) -> bool:
    """Whether the finished file is on disk with the right content. A file whose size and mtime
    match the index is trusted unless `verify`; any other is hashed, and dropped if wrong."""
    target = agent_dir.content_path(file.path)
    try:
        stat = target.stat()
    except FileNotFoundError:
        return False
    entry = known.get(file.path)
    trusted = (
        not verify
        and entry is not None
        and entry.get("sha256") == file.sha256
        and entry.get("size") == stat.st_size
        and entry.get("mtime_ns") == stat.st_mtime_ns
    )
    if trusted or (stat.st_size == file.size and file_sha256(target) == file.sha256):
        return True
    target.unlink()
    return False


def _budget(agent_dir: AgentDir, quota: int | None, held_bytes: int) -> int:
    agent_dir.root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(agent_dir.root).free - DISK_RESERVE
    return max(0, min(free, quota - held_bytes if quota is not None else free))


def run_sync(
    agent_dir: AgentDir,
    *,
    quota_bytes: int | None = None,
    verify: bool = False,
    any_time: bool = False,
    on_total: Callable[[int], None] = lambda _n: None,
    on_bytes: Callable[[int], None] = lambda _n: None,
) -> SyncSummary:
    """Sync once; the summary. A server that cannot be reached ends the sync early (ServerAway)
    after a heartbeat is queued in the outbox, so the power-on still reaches the server later."""
    started = time.monotonic()
    config = agent_dir.load()
    outbox = Outbox(agent_dir.outbox_path)
    summary = SyncSummary(site_id=config.site_id)
    client = ServerClient(config.server, agent_dir.token())
    try:
        beat = {
            "powered_on_at": boot_time(),
            "disk_free_bytes": shutil.disk_usage(agent_dir.root).free,
            "agent_version": agent_version(),
            "last_sync_at": config.last_sync_at,
        }
        try:
            client.heartbeat({**beat, "sent_at": now_iso()})
        except ServerAway:
            outbox.append_record("heartbeat", {k: v for k, v in beat.items() if v is not None})
            raise
        payload = verify_manifest(client.manifest(), config)
        summary.manifest_issued_at = payload["issued_at"]
        windows = payload["site"].get("download_windows") or []
        summary.download_allowed = any_time or within_windows(windows)
        if not summary.download_allowed:
            summary.errors.append(
                f"outside the reception plan {', '.join(windows)}: nothing downloaded "
                "(--any-time downloads now)"
            )
        _fetch_content(
            agent_dir,
            client,
            payload,
            summary,
            quota=quota_bytes if quota_bytes is not None else config.quota_bytes,
            verify=verify,
            download=summary.download_allowed,
            on_total=on_total,
            on_bytes=on_bytes,
        )
        _fetch_player(agent_dir, client, payload, summary)
        try:
            client.report_holdings(holdings_report(agent_dir.index()))
        except ServerRefused as exc:  # a report refused must not hold the outbox back
            summary.errors.append(f"the holdings report was refused: {exc}")
        agent_dir.save_roster(payload.get("roster") or {})
        config.last_manifest_issued_at = payload["issued_at"]
        upload_outbox(client, outbox, config, summary)
        config.last_sync_at = now_iso()
        agent_dir.save(config)
    finally:
        client.close()
    summary.records_pending = outbox.pending_count()
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _fetch_content(
    agent_dir: AgentDir,
    client: ServerClient,
    payload: dict[str, Any],
    summary: SyncSummary,
    *,
    quota: int | None,
    verify: bool,
    download: bool,
    on_total: Callable[[int], None],
    on_bytes: Callable[[int], None],
) -> None:
    """Purge, check what is held, fetch what is missing within the budget (if `download`),
    write the index."""
    wanted = wanted_files(agent_dir, payload)
    summary.files_purged = purge(agent_dir, set(wanted))
    known: dict[str, Any] = agent_dir.index().get("files", {})
    held: dict[str, Any] = {}
    missing: dict[int, list[WantedFile]] = {}
    for file in wanted.values():
        if _held(agent_dir, file, known, verify):
            held[file.path] = _entry(agent_dir, file)
            summary.files_verified += 1
        else:
            missing.setdefault(file.lesson_id, []).append(file)
    budget = _budget(agent_dir, quota, sum(entry["size"] for entry in held.values()))
    plan: list[WantedFile] = []
    for lesson in payload["lessons"] if download else []:
        files = missing.get(lesson["id"], [])
        need = sum(f.size - _part_size(agent_dir, f) for f in files)
        if need > budget:
            summary.lessons_skipped.append(lesson["id"])
            summary.errors.append(
                f"lesson {lesson['id']} skipped: needs {need} bytes, the disk quota leaves {budget}"
            )
            continue
        budget -= need
        plan += files
    on_total(sum(f.size - _part_size(agent_dir, f) for f in plan))
    for file in plan:
        try:
            _download(agent_dir, client, file, summary, on_bytes)
            held[file.path] = _entry(agent_dir, file)
        except (FileCorrupt, PlatformError) as exc:
            summary.files_failed += 1
            summary.errors.append(f"{file.path}: {exc}")
    lessons = []
    for lesson in payload["lessons"]:
        files = [wanted[f["path"]] for f in lesson["files"]]
        have = [f for f in files if f.path in held]
        complete = len(have) == len(files)
        summary.lessons_complete += complete
        lessons.append(
            {
                **{k: v for k, v in lesson.items() if k != "files"},
                "complete": complete,
                "files_held": len(have),
                "files_total": len(files),
                "bytes_held": sum(
                    f.size if f.path in held else _part_size(agent_dir, f) for f in files
                ),
                "bytes_total": sum(f.size for f in files),
                "no_room": lesson["id"] in summary.lessons_skipped,
            }
        )
    summary.lessons = len(lessons)
    summary.bytes_held = sum(entry["size"] for entry in held.values())
    agent_dir.save_index({"issued_at": payload["issued_at"], "lessons": lessons, "files": held})


def holdings_report(index: dict[str, Any]) -> dict[str, Any]:
    """What the content index says this agent holds of each lesson, for the server."""
    fields = ("files_held", "files_total", "bytes_held", "bytes_total", "no_room")
    return {
        "manifest_issued_at": index["issued_at"],
        "lessons": [
            {"lesson_id": lesson["id"], **{name: lesson[name] for name in fields}}
            for lesson in index.get("lessons", [])
        ],
    }


def _fetch_player(
    agent_dir: AgentDir, client: ServerClient, payload: dict[str, Any], summary: SyncSummary
) -> None:
    """Hold the server's player files (the local player is the web player), verified like
    lesson files; a file already held with the right digest is not fetched again."""
    for entry in (payload.get("player") or {}).get("files", []):
        try:
            target = agent_dir.player_path(entry["path"])
        except ValueError as exc:
            raise ManifestRejected(N_("The manifest names an unsafe file path.")) from exc
        if target.is_file() and file_sha256(target) == entry["sha256"]:
            continue
        part = target.with_name(target.name + ".part")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            summary.player_bytes_downloaded += client.download(
                entry["url"], part, size=int(entry["size"]), sha256=entry["sha256"]
            )
        except (FileCorrupt, PlatformError) as exc:
            summary.files_failed += 1
            summary.errors.append(f"player {entry['path']}: {exc}")
            continue
        os.replace(part, target)
        summary.player_files_downloaded += 1


def _part_size(agent_dir: AgentDir, file: WantedFile) -> int:
    part = agent_dir.content_path(file.path + ".part")
    return min(part.stat().st_size, file.size) if part.exists() else 0


def _download(
    agent_dir: AgentDir,
    client: ServerClient,
    file: WantedFile,
    summary: SyncSummary,
    on_bytes: Callable[[int], None],
) -> None:
    target = agent_dir.content_path(file.path)
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    summary.bytes_downloaded += client.download(
        file.url, part, size=file.size, sha256=file.sha256, on_bytes=on_bytes
    )
    os.replace(part, target)
    summary.files_downloaded += 1


def _entry(agent_dir: AgentDir, file: WantedFile) -> dict[str, Any]:
    stat = agent_dir.content_path(file.path).stat()
    return {
        "size": stat.st_size,
        "sha256": file.sha256,
        "mtime_ns": stat.st_mtime_ns,
        "lesson_id": file.lesson_id,
    }


def upload_outbox(
    client: ServerClient, outbox: Outbox, config: AgentConfig, summary: SyncSummary
) -> None:
    """Send pending records in batches until the server has acknowledged all of them, or stops
    moving its high-water mark (then the rest waits for the next sync)."""
    while records := outbox.pending(UPLOAD_BATCH):
        batch = {"agent_id": config.agent_id, "sent_at": now_iso(), "records": records}
        ack = client.upload(batch)
        summary.records_sent += len(records)
        acked = outbox.acknowledge(int(ack["high_water"]))
        summary.records_acked += acked
        if acked == 0:
            summary.errors.append(
                f"the server acknowledged up to {ack['high_water']}, "
                f"below the oldest pending record {records[0]['seq']}"
            )
            return


def agent_status(agent_dir: AgentDir) -> dict[str, Any]:
    """What `terminal status` shows: site, server, last sync, lessons held, disk used, outbox."""
    config = agent_dir.load()
    index = agent_dir.index()
    return {
        "site": {"id": config.site_id, "code": config.site_code, "name": config.site_name},
        "server": config.server,
        "agent_id": config.agent_id,
        "last_sync_at": config.last_sync_at,
        "manifest_issued_at": index.get("issued_at"),
        "lessons_assigned": len(index.get("lessons", [])),
        "lessons_held": sum(1 for lesson in index.get("lessons", []) if lesson.get("complete")),
        "disk_used_bytes": sum(entry["size"] for entry in index.get("files", {}).values()),
        "quota_bytes": config.quota_bytes,
        "outbox_pending": Outbox(agent_dir.outbox_path).pending_count(),
    }
