"""Engine checks in one place: `yuanjiao doctor`, `/healthz` and the start-up of serve and worker.

Each check reaches its engine and reports what it found (kind, version, counts) or, as an
EngineUnavailable, why it failed. Those reasons may name hosts, paths and endpoints: they are
for the operator and the log, never for a web visitor (/healthz names only the failed engine).
"""

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import redis
from huey import RedisHuey, SqliteHuey
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from core.db import get_engine, redacted_url
from core.errors import PlatformError, TemporaryError
from core.i18n import N_
from core.jobs.models import Job, JobStatus
from core.jobs.queue import get_huey
from core.migrate import SchemaBehind, schema_state
from core.settings import get_settings
from core.storage import LocalStore, S3Store, get_store

# Below this much free space under YUANJIAO_HOME (uploads, transcodes) or the local store,
# a large upload or a transcode is likely to fail.
MIN_FREE_BYTES = 2 * 1024**3


class EngineUnavailable(TemporaryError):
    """An engine (database, object store, job queue, ffmpeg, disk) cannot be used."""

    internal = True


@dataclass(frozen=True)
class Check:
    """The outcome of one check: what was found, or the problem (None when all is well)."""

    name: str
    facts: dict[str, Any] = field(default_factory=dict)
    problem: PlatformError | None = None

    @property
    def ok(self) -> bool:
        """Whether the engine is usable."""
        return self.problem is None


def _reason(exc: BaseException) -> str:
    """The first line of a driver's message (SQLAlchemy appends SQL and links after it)."""
    original = getattr(exc, "orig", None) or exc
    text = " ".join(str(original).split("\n")[0].split())
    return text or type(original).__name__


def engine_error(exc: BaseException) -> PlatformError | None:
    """An operator-facing error for a failure of an engine seen anywhere (None if not one)."""
    if isinstance(exc, PlatformError):
        return exc
    if isinstance(exc, SQLAlchemyError):
        return EngineUnavailable(
            N_("The database cannot be used (%(where)s): %(reason)s"),
            where=redacted_url(get_settings().database_url),
            reason=_reason(exc),
        )
    if isinstance(exc, redis.RedisError):
        return EngineUnavailable(
            N_("The job queue cannot be reached (%(where)s): %(reason)s"),
            where=_queue_where(),
            reason=_reason(exc),
        )
    return None


def _queue_where() -> str:
    url = get_settings().queue_url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"  # without a password


def _attempt(name: str, probe: Callable[[], dict[str, Any]]) -> Check:
    try:
        return Check(name, probe())
    except Exception as exc:
        problem = engine_error(exc)
        if problem is None:
            problem = EngineUnavailable(
                N_("The %(engine)s check failed: %(reason)s"), engine=name, reason=_reason(exc)
            )
        return Check(name, problem=problem)


def _database() -> dict[str, Any]:
    with get_engine().connect() as connection:
        if connection.dialect.name == "sqlite":
            engine, query = "SQLite", "select sqlite_version()"
        else:
            engine, query = "PostgreSQL", "show server_version"
        version = connection.exec_driver_sql(query).scalar()
    url = redacted_url(get_settings().database_url)
    return {"engine": engine, "version": str(version).split()[0], "url": url}


def check_database() -> Check:
    """The database answers; its engine and server version."""
    return _attempt("database", _database)


def check_migrations() -> Check:
    """The schema is at the code's newest migration."""
    try:
        state = schema_state()
    except SQLAlchemyError as exc:
        return Check("migrations", problem=engine_error(exc))
    facts = {"current": state.current, "head": state.head}
    if not state.pending:
        return Check("migrations", facts)
    problem = SchemaBehind(
        N_(
            "Migrations are pending (database at %(current)s, code at %(head)s): "
            "run `yuanjiao db upgrade`."
        ),
        current=state.current or "-",
        head=state.head,
    )
    return Check("migrations", facts, problem)


def _storage() -> dict[str, Any]:
    store = get_store()
    store.check()
    if isinstance(store, LocalStore):
        return {"kind": "local", "path": str(store.root)}
    if isinstance(store, S3Store):
        return {"kind": "S3", "endpoint": store.config.endpoint_url, "bucket": store.bucket}
    return {"kind": type(store).__name__}


def check_storage() -> Check:
    """The object store is usable: a writable directory, or a bucket that answers."""
    return _attempt("storage", _storage)


def _queue() -> dict[str, Any]:
    queue = get_huey()
    if isinstance(queue, RedisHuey):
        server = queue.storage.conn.info("server")
        return {"engine": "Redis", "version": server["redis_version"], "url": _queue_where()}
    if isinstance(queue, SqliteHuey):
        queue.pending_count()  # opens (and creates) the queue file
        return {"engine": "Huey SQLite", "path": queue.storage.filename}
    return {"engine": type(queue).__name__}


def check_queue() -> Check:
    """The job queue answers: Redis and its version, or Huey's SQLite file."""
    return _attempt("queue", _queue)


def check_ffmpeg() -> Check:
    """The bundled ffmpeg runs; its version."""
    return _attempt("ffmpeg", lambda: {"version": imageio_ffmpeg.get_ffmpeg_version()})


def _free(path: Path) -> dict[str, Any]:
    while not path.exists() and path != path.parent:
        path = path.parent
    return {"path": str(path), "free_bytes": shutil.disk_usage(path).free}


def check_disk() -> Check:
    """Free space under YUANJIAO_HOME and, for the local store, under its directory."""
    places = [get_settings().home.absolute()]
    try:
        store = get_store()
    except PlatformError:
        store = None
    if isinstance(store, LocalStore) and store.root not in places:
        places.append(store.root)
    facts = {"places": [_free(place) for place in places]}
    for place in facts["places"]:
        if place["free_bytes"] < MIN_FREE_BYTES:
            problem = EngineUnavailable(
                N_("Only %(free)s MB free under %(path)s; keep at least %(needed)s MB."),
                free=place["free_bytes"] // 1024**2,
                path=place["path"],
                needed=MIN_FREE_BYTES // 1024**2,
            )
            return Check("disk", facts, problem)
    return Check("disk", facts)


def _jobs() -> dict[str, Any]:
    with get_engine().connect() as connection:
        queued = connection.scalar(
            select(func.count()).select_from(Job).where(Job.status == JobStatus.queued)
        )
    queue = get_huey()
    return {
        "queued_jobs": int(queued or 0),
        "queue_pending": queue.pending_count(),
        "queue_scheduled": queue.scheduled_count(),
    }


def check_jobs() -> Check:
    """The queue depth: jobs waiting in the database, and messages waiting in the queue."""
    return _attempt("jobs", _jobs)


CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "migrations": check_migrations,
    "storage": check_storage,
    "queue": check_queue,
    "ffmpeg": check_ffmpeg,
    "disk": check_disk,
    "jobs": check_jobs,
}

# Checks that mean nothing while another has failed: no migrations without a database, no queue
# depth without the jobs table and the queue.
NEEDS = {"migrations": {"database"}, "jobs": {"database", "migrations", "queue"}}


def run_checks(names: tuple[str, ...] = tuple(CHECKS)) -> list[Check]:
    """Run the named checks in order; a failed database skips the checks that need it."""
    results: list[Check] = []
    for name in names:
        failed = {check.name for check in results if not check.ok}
        if failed & NEEDS.get(name, set()):
            continue
        results.append(CHECKS[name]())
    return results


def require_engines(*names: str) -> None:
    """Raise the first failure among the named checks (start-up of serve, worker, run)."""
    for check in run_checks(names):
        if check.problem is not None:
            raise check.problem
