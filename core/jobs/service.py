"""Background jobs: a durable row per job, Huey to carry job ids to workers, retries and recovery.

The queue (Huey on SQLite, or Redis for many workers) only carries a job's id; the `jobs` table
holds its state. A worker claims a job with a conditional UPDATE: a job delivered twice runs once.
While a handler runs, a heartbeat thread touches the row; a job whose heartbeat goes stale lost its
worker (killed, machine gone) and is queued again by `recover_stalled_jobs`, run by every worker.

Handlers raise a PlatformError for a permanent failure (bad input: no retry) and anything else,
including TemporaryError, for a failure worth retrying with exponential backoff.
"""

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from redis import ConnectionPool
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import session_scope, utcnow
from core.errors import ConfigurationError, PlatformError, TemporaryError
from core.i18n import N_
from core.jobs.models import Job, JobStatus
from core.settings import get_settings

log = logging.getLogger(__name__)

Progress = Callable[[float], None]
Handler = Callable[[Session, Job, Progress], None]
FailureHook = Callable[[Session, Job, str], None]


def make_huey(url: str) -> Huey:
    """The Huey instance for a queue URL: `sqlite:///path` or `redis://host:port/db`."""
    try:
        if url.startswith(("redis://", "rediss://")):
            # A dead Redis fails a connection in seconds instead of hanging the caller.
            pool = ConnectionPool.from_url(url, socket_connect_timeout=10)
            return RedisHuey("yuanjiao", connection_pool=pool)
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            return SqliteHuey("yuanjiao", filename=str(path))
    except (ValueError, OSError) as exc:
        raise ConfigurationError(
            N_("YUANJIAO_QUEUE_URL cannot be used: %(reason)s"), reason=str(exc)
        ) from exc
    raise ConfigurationError(
        N_("YUANJIAO_QUEUE_URL is malformed: use sqlite:///path or redis://host:port/db.")
    )


@lru_cache
def _queue() -> tuple[Huey, Any]:
    """The queue and its one task, built on first use rather than on import, so a malformed or
    unreachable queue is an error its user reports (the CLI in one line), not a failed import."""
    queue = make_huey(get_settings().queue_url)
    return queue, queue.task()(run_job)


def get_huey() -> Huey:
    """The queue named by YUANJIAO_QUEUE_URL."""
    return _queue()[0]


@dataclass(frozen=True)
class JobType:
    """One kind of job: its handler, how often it may be tried, and what to do when it fails."""

    kind: str
    handler: Handler
    max_attempts: int
    on_failure: FailureHook | None


_JOB_TYPES: dict[str, JobType] = {}


def job_type(
    kind: str, *, max_attempts: int | None = None, on_failure: FailureHook | None = None
) -> Callable[[Handler], Handler]:
    """Register a handler for `kind` jobs (the one table of job types, with their retry policy)."""

    def register(handler: Handler) -> Handler:
        attempts = max_attempts or get_settings().job_max_attempts
        _JOB_TYPES[kind] = JobType(kind, handler, attempts, on_failure)
        return handler

    return register


def create_job(*, session: Session, kind: str, payload: dict[str, Any]) -> Job:
    """Record a job (not yet queued); `enqueue` it after the caller's transaction commits."""
    if kind not in _JOB_TYPES:
        raise ValueError(f"no handler registered for job kind {kind!r}")
    job = Job(kind=kind, payload=payload, status=JobStatus.queued)
    session.add(job)
    session.flush()
    return job


def enqueue(job_id: int, *, delay: float = 0) -> None:
    """Hand a committed job to the queue."""
    task = _queue()[1]
    if delay > 0:
        task.schedule((job_id,), delay=delay)
    else:
        task(job_id)


def run_job(job_id: int) -> None:
    """The one queue task: run the job with this id (a no-op if it is not waiting to run)."""
    outcome = execute_job(job_id)
    if outcome.retry_in is not None:
        enqueue(job_id, delay=outcome.retry_in)


@dataclass(frozen=True)
class Outcome:
    """What happened to a job attempt: its status now and, if it should run again, when."""

    status: JobStatus | None
    retry_in: float | None = None


def execute_job(job_id: int, *, on_progress: Progress | None = None) -> Outcome:
    """Claim and run one attempt of a job in this process; record success, retry or failure."""
    if not _claim(job_id):
        return Outcome(status=None)
    with session_scope() as session:
        job = session.get_one(Job, job_id)
        job_spec = _JOB_TYPES[job.kind]
    heartbeat = _Heartbeat(job_id)
    report = _progress_reporter(job_id, on_progress)
    heartbeat.start()
    try:
        with session_scope() as session:
            job_spec.handler(session, session.get_one(Job, job_id), report)
    except Exception as exc:
        heartbeat.stop()
        return _record_failure(job_id, job_spec, exc)
    heartbeat.stop()
    with session_scope() as session:
        job = session.get_one(Job, job_id)
        job.status, job.progress, job.error, job.finished_at = JobStatus.done, 1.0, None, utcnow()
    return Outcome(status=JobStatus.done)


def _claim(job_id: int) -> bool:
    """Atomically move a queued job to running; False if another worker has it or it is over."""
    with session_scope() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.queued)
            .values(
                status=JobStatus.running,
                attempts=Job.attempts + 1,
                heartbeat_at=utcnow(),
                progress=0.0,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _record_failure(job_id: int, job_spec: JobType, exc: Exception) -> Outcome:
    permanent = isinstance(exc, PlatformError) and not isinstance(exc, TemporaryError)
    message = str(exc) or type(exc).__name__
    with session_scope() as session:
        job = session.get_one(Job, job_id)
        job.error = message
        if not permanent and job.attempts < job_spec.max_attempts:
            log.warning("job %s attempt %s failed, will retry: %s", job_id, job.attempts, message)
            job.status = JobStatus.queued
            return Outcome(status=JobStatus.queued, retry_in=retry_delay(job.attempts))
        log.error("job %s failed: %s", job_id, message, exc_info=not permanent)
        job.status, job.finished_at = JobStatus.failed, utcnow()
        if job_spec.on_failure is not None:
            job_spec.on_failure(session, job, message)
        return Outcome(status=JobStatus.failed)


def retry_delay(attempts: int) -> float:
    """Exponential backoff: base, 2x base, 4x base... after the 1st, 2nd, 3rd failed attempt."""
    return float(get_settings().job_retry_base_seconds * 2 ** max(attempts - 1, 0))


def _progress_reporter(job_id: int, echo: Progress | None) -> Progress:
    """A callback that stores progress at most once a second and passes every value to `echo`."""
    last_saved = [0.0]

    def report(fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if echo is not None:
            echo(fraction)
        now = utcnow().timestamp()
        if now - last_saved[0] < 1.0 and fraction < 1.0:
            return
        last_saved[0] = now
        with session_scope() as session:
            session.execute(
                update(Job).where(Job.id == job_id).values(progress=fraction, heartbeat_at=utcnow())
            )

    return report


class _Heartbeat:
    """Touches a running job's row every few seconds so recovery knows its worker is alive."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.interval = max(get_settings().job_stale_seconds / 4, 0.5)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stopped.wait(self.interval):
            with session_scope() as session:
                session.execute(
                    update(Job)
                    .where(Job.id == self.job_id, Job.status == JobStatus.running)
                    .values(heartbeat_at=utcnow())
                )


def recover_stalled_jobs() -> list[int]:
    """Queue again the running jobs whose worker stopped beating (killed, machine lost)."""
    cutoff = utcnow() - timedelta(seconds=get_settings().job_stale_seconds)
    with session_scope() as session:
        lost = list(
            session.scalars(
                select(Job.id).where(Job.status == JobStatus.running, Job.heartbeat_at < cutoff)
            )
        )
        if lost:
            session.execute(
                update(Job)
                .where(Job.id.in_(lost), Job.status == JobStatus.running)
                .values(status=JobStatus.queued)
            )
    for job_id in lost:
        log.warning("job %s lost its worker; queued again", job_id)
        enqueue(job_id)
    return lost


class Worker:
    """Huey consumer threads plus the recovery loop (`yuanjiao worker`; inside `yuanjiao run`)."""

    def __init__(self, *, workers: int = 1) -> None:
        self.consumer = get_huey().create_consumer(
            workers=workers, worker_type="thread", periodic=False
        )
        self._stopped = threading.Event()
        self._recovery = threading.Thread(target=self._recover_loop, name="recovery", daemon=True)

    def start(self) -> None:
        """Start consuming in background threads, leaving the host's signal handlers in place."""
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        saved = {signum: signal.getsignal(signum) for signum in handled}
        self.consumer.start()
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        self._recovery.start()

    def run(self) -> None:
        """Consume in the foreground until SIGINT/SIGTERM (the `yuanjiao worker` process)."""
        self._recovery.start()
        self.consumer.run()
        self._stopped.set()

    def stop(self) -> None:
        """Stop taking jobs; running ones finish their current step or are recovered later."""
        self._stopped.set()
        self.consumer.stop(graceful=True)

    def _recover_loop(self) -> None:
        interval = min(max(get_settings().job_stale_seconds / 2, 1.0), 30.0)
        while True:
            try:
                recover_stalled_jobs()
            except Exception:
                log.exception("job recovery failed")
            if self._stopped.wait(interval):
                return
