"""One attempt at a job, as its handler holds it: its number, fenced writes, progress, a stop.

A worker claims a queued, due job under a number (see `execution`). Every later write of the
attempt (progress, heartbeat, the handler's result, a retry, a failure, giving the job back) is
conditional on the job still being `running` under that number (`fenced_update`). This fences off
an attempt whose job recovery took over (its heartbeat went stale): it can write nothing, its
handler is stopped at the next progress report or heartbeat, and its result is dropped.

A progress report that the database does not take (locked, away) is logged and tried again with
the next one.
"""

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.db import session_scope, utcnow
from core.jobs.models import Job, JobStatus

log = logging.getLogger(__name__)

Progress = Callable[[float], None]

# Progress is stored at most this often (every value still reaches the attempt's echo).
_PROGRESS_SECONDS = 1.0
# Writing an attempt's outcome is tried again after these delays while the database is away.


class StopReason(enum.StrEnum):
    """Why an attempt must end before its handler is done."""

    shutdown = "shutdown"  # this process's worker is stopping: the job is given back
    lost = "lost"  # recovery took the job over: another attempt owns it now


class AttemptStopped(Exception):
    """The attempt must end now; raised into its handler by its next progress report."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(f"attempt stopped ({reason})")
        self.reason = reason


class Attempt:
    """One run of a job under its attempt number: what a handler sees of its job.

    `stopping` is set once the attempt must end (its worker stops, or its job was taken over);
    handlers pass it to what they wait on, as they pass `time_left()`.
    """

    def __init__(
        self,
        *,
        job_id: int,
        number: int,
        kind: str,
        payload: dict[str, Any],
        timeout: float | None,
        echo: Progress | None,
    ) -> None:
        self.job_id = job_id
        self.number = number
        self.kind = kind
        self.payload = payload
        self.stopping = threading.Event()
        self.stop_reason: StopReason | None = None
        self.finished = False
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._echo = echo
        self._stored_at = float("-inf")

    def stop(self, reason: StopReason) -> None:
        """Ask the handler to end (the first reason given is kept)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stopping.set()

    def check(self) -> None:
        """Raise AttemptStopped if the attempt must end."""
        if self.stop_reason is not None:
            raise AttemptStopped(self.stop_reason)

    def time_left(self) -> float | None:
        """Seconds left of the job type's time limit (None: no limit)."""
        return None if self._deadline is None else max(self._deadline - time.monotonic(), 0.0)

    def progress(self, fraction: float) -> None:
        """Report progress: every value goes to the echo, one a second (and 1.0) to the job row;
        raises AttemptStopped once the attempt must end."""
        self.check()
        fraction = min(max(fraction, 0.0), 1.0)
        if self._echo is not None:
            self._echo(fraction)
        now = time.monotonic()
        if now - self._stored_at < _PROGRESS_SECONDS and fraction < 1.0:
            return
        self._stored_at = now
        try:
            owned = self._write(progress=fraction, heartbeat_at=utcnow())
        except DBAPIError as exc:
            log.warning("job %s: progress not stored, the next report tries again: %s", self, exc)
            return
        if not owned:
            self.stop(StopReason.lost)
            self.check()

    def beat(self) -> None:
        """Show recovery that this attempt is alive; stop it if its job was taken over."""
        if not self._write(heartbeat_at=utcnow()):
            self.stop(StopReason.lost)

    @contextmanager
    def finish(self) -> Iterator[Session]:
        """A short transaction that marks the job done, for the handler to write its result in:
        both are committed together, or neither if the job was taken over (AttemptStopped)."""
        self.check()
        with session_scope() as session:
            now = utcnow()
            done = dict(status=JobStatus.done, progress=1.0, error=None, finished_at=now)
            if not fenced_update(session, self, **done, heartbeat_at=now):
                self.stop(StopReason.lost)
                self.check()
            yield session
        self.finished = True

    def _write(self, **values: Any) -> bool:
        with session_scope() as session:
            return fenced_update(session, self, **values)

    def __str__(self) -> str:
        return f"{self.job_id} (attempt {self.number})"


def fenced_update(session: Session, attempt: Attempt, **values: Any) -> bool:
    """Update the attempt's job only while the attempt owns it; False if it no longer does."""
    result = session.execute(
        update(Job)
        .where(
            Job.id == attempt.job_id,
            Job.status == JobStatus.running,
            Job.attempts == attempt.number,
        )
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
