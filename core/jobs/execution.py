"""Running an attempt: claim a job under a number, run its handler with a heartbeat, and store
the outcome.

A worker claims a queued, due job with a conditional UPDATE that moves it to `running` and counts
the attempt in `jobs.attempts`; that count is the attempt's number (see `attempt` for the fenced
writes that follow). No database session stays open while a handler works: each write is its own
short transaction. The outcome of an attempt is written again until the database takes it, so a
failed attempt is queued again (or failed) at once, not after its heartbeat goes stale.

Failures: a PlatformError that is not `temporary` (a bad source, a broken rule) fails the job at
once; anything else (a full disk, a timeout, a store or database away, a bug) is retried with
exponential backoff until the job type's `max_attempts` are used up.

When this process's worker stops, running attempts are stopped: their handlers end (a transcode
kills ffmpeg) and their jobs are given back, queued and due at once, for another worker.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.db import session_scope, utcnow
from core.errors import PlatformError
from core.jobs.attempt import (
    Attempt,
    Progress,
    StopReason,
    fenced_update,
)
from core.jobs.models import Job, JobStatus
from core.jobs.registry import JobType, get_job_type
from core.settings import get_settings

log = logging.getLogger(__name__)

# Writing an attempt's outcome is tried again after these delays while the database is away.
_FIRST_OUTCOME_DELAY, _LAST_OUTCOME_DELAY = 0.2, 5.0


@dataclass(frozen=True)
class Outcome:
    """What happened to a job attempt: its status now and, if it should run again, when."""

    status: JobStatus | None
    retry_in: float | None = None


class _RunningAttempts:
    """The attempts running in this process, so a stopping worker can stop them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: set[Attempt] = set()
        self.closed = False

    def close(self) -> None:
        with self._lock:
            self.closed = True
            for attempt in self._attempts:
                attempt.stop(StopReason.shutdown)

    def reopen(self) -> None:
        with self._lock:
            self.closed = False

    @contextmanager
    def holding(self, attempt: Attempt) -> Iterator[None]:
        with self._lock:
            self._attempts.add(attempt)
            if self.closed:
                attempt.stop(StopReason.shutdown)
        try:
            yield
        finally:
            with self._lock:
                self._attempts.discard(attempt)


_running = _RunningAttempts()


def stop_attempts() -> None:
    """Stop the attempts running in this process and start no new one (the worker stops)."""
    _running.close()


def allow_attempts() -> None:
    """Let this process start attempts again (a worker starts, or has stopped)."""
    _running.reopen()


def accepting_attempts() -> bool:
    """False while this process's worker is stopping."""
    return not _running.closed


def execute_job(job_id: int, *, on_progress: Progress | None = None) -> Outcome:
    """Claim and run one attempt of a job in this process; record success, retry or failure, or
    give the job back if the attempt was stopped."""
    attempt = _claim(job_id, echo=on_progress)
    if attempt is None:
        return Outcome(status=None)
    job_spec = get_job_type(attempt.kind)
    with _running.holding(attempt), _Heartbeat(attempt):
        try:
            attempt.check()
            job_spec.handler(attempt)
            if not attempt.finished:
                with attempt.finish():
                    pass
        except BaseException as exc:
            outcome = _conclude(attempt, job_spec, exc)
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt, SystemExit: the job was given back first
            return outcome
    return Outcome(status=JobStatus.done)


def _claim(job_id: int, *, echo: Progress | None) -> Attempt | None:
    """Move a queued, due job to running and count the attempt; None if it is not waiting to
    run (another worker has it, it is over, or its retry is not due yet)."""
    now = utcnow()
    with session_scope() as session:
        claimed = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status == JobStatus.queued,
                or_(Job.not_before.is_(None), Job.not_before <= now),
            )
            .values(
                status=JobStatus.running,
                attempts=Job.attempts + 1,
                heartbeat_at=now,
                progress=0.0,
                not_before=None,
            )
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return None
        job = session.get_one(Job, job_id)
        return Attempt(
            job_id=job_id,
            number=job.attempts,
            kind=job.kind,
            payload=dict(job.payload),
            timeout=get_job_type(job.kind).timeout,
            echo=echo,
        )


def is_temporary(exc: BaseException) -> bool:
    """Whether a failed attempt is worth another try.

    A PlatformError says so itself (`temporary`): a bad source or a broken rule is not, a store
    that is away is, and courseware's MediaError is for a full disk or a timeout. Any other error
    is: a full disk (OSError ENOSPC), a timeout, a database away, or a bug that may not recur.
    """
    return not isinstance(exc, PlatformError) or exc.temporary


def retry_delay(attempts: int) -> float:
    """Exponential backoff: base, 2x base, 4x base... after the 1st, 2nd, 3rd failed attempt."""
    return float(get_settings().job_retry_base_seconds * 2 ** max(attempts - 1, 0))


def _conclude(attempt: Attempt, job_spec: JobType, exc: BaseException) -> Outcome:
    """Record how an attempt that raised ends: given back, retried later, or failed."""
    if not isinstance(exc, Exception):
        attempt.stop(StopReason.shutdown)
    if attempt.stop_reason is StopReason.lost:
        log.warning("job %s was taken over by another attempt; this one's work is dropped", attempt)
        return Outcome(status=None)
    if attempt.stop_reason is StopReason.shutdown:
        return _store_outcome(attempt, lambda session: _give_back(session, attempt))
    return _store_outcome(attempt, lambda session: _record_failure(session, attempt, job_spec, exc))


def _store_outcome(attempt: Attempt, write: Callable[[Session], Outcome | None]) -> Outcome:
    """Write an attempt's outcome, again and again while the database is away (for up to the
    stale time), so the job is queued again or failed as soon as the database answers."""
    deadline = time.monotonic() + get_settings().job_stale_seconds
    delay = _FIRST_OUTCOME_DELAY
    while True:
        try:
            with session_scope() as session:
                outcome = write(session)
        except DBAPIError as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("job %s: outcome not stored, trying again: %s", attempt, exc)
            time.sleep(delay)
            delay = min(delay * 2, _LAST_OUTCOME_DELAY)
            continue
        if outcome is None:
            log.warning("job %s was taken over by another attempt; its outcome is dropped", attempt)
            return Outcome(status=None)
        return outcome


def _give_back(session: Session, attempt: Attempt) -> Outcome | None:
    """Queue the job again, due at once, for another worker (this one is stopping)."""
    if not fenced_update(session, attempt, status=JobStatus.queued, progress=0.0):
        return None
    log.info("job %s stopped with its worker; queued again", attempt)
    return Outcome(status=JobStatus.queued, retry_in=0.0)


def _record_failure(
    session: Session, attempt: Attempt, job_spec: JobType, exc: BaseException
) -> Outcome | None:
    """Queue the job for a retry after a backoff, or fail it and run its failure hook."""
    message = str(exc) or type(exc).__name__
    temporary = is_temporary(exc)
    if temporary and attempt.number < job_spec.max_attempts:
        delay = retry_delay(attempt.number)
        retry = dict(status=JobStatus.queued, error=message)
        if not fenced_update(
            session, attempt, **retry, not_before=utcnow() + timedelta(seconds=delay)
        ):
            return None
        log.warning("job %s failed, retry in %.1f s: %s", attempt, delay, message)
        return Outcome(status=JobStatus.queued, retry_in=delay)
    failed = dict(status=JobStatus.failed, error=message, finished_at=utcnow())
    if not fenced_update(session, attempt, **failed):
        return None
    log.error("job %s failed: %s", attempt, message, exc_info=exc if temporary else None)
    if job_spec.on_failure is not None:
        job_spec.on_failure(session, session.get_one(Job, attempt.job_id), message)
    return Outcome(status=JobStatus.failed)


class _Heartbeat:
    """Beats for an attempt every quarter of the stale time, so recovery knows it is alive; a
    beat the database does not take is logged and tried again, and never ends the thread."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self.interval = max(get_settings().job_stale_seconds / 4, 0.5)
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-{attempt.job_id}", daemon=True
        )

    def __enter__(self) -> "_Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.attempt.beat()
            except Exception as exc:
                log.warning("job %s: heartbeat not stored, trying again: %s", self.attempt, exc)
