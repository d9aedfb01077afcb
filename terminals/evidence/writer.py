"""Group commit for study beats: one writer thread per process takes every beat waiting, stores
them in one transaction, commits once and only then answers each of them.

Why: a beat is small (a few rows touched) and its cost was the transaction around it (a commit,
and on SQLite the file's single writer lock, which concurrent writers wait for in sleeps). Gathering
the beats that arrive while the previous group commits pays that cost once per group, and the
group grows with the load by itself (no timer: a lone beat is written at once).

Guarantees kept:
- acknowledged means committed: a beat's answer is set only after its group's commit returned;
  if the commit fails, every beat of the group fails with that error and none of them is stored
  (one transaction);
- a refused beat (an ended session, a forged clock) is refused alone and the others of its group
  are stored: the rules refuse before anything is written, and a beat that takes the
  beat-by-beat path runs in a savepoint of its own (beat_group.py);
- beats are applied in arrival order by one thread, and within a group each one sees the ones
  before it (the same session's identity map), so exactly-once per (session, seq) and the
  order-independent credit rules hold as they did beat by beat.
"""

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from core.db import write_scope
from core.errors import NotAuthenticated
from core.i18n import N_
from core.people.accounts import find_session_user
from core.people.errors import PasswordChangeRequired
from terminals.evidence.beat_group import store_group
from terminals.evidence.service import BeatInput, BeatOutcome, record_beat

log = logging.getLogger(__name__)

# The most beats one transaction takes: bounds how long the first of a group waits for the rest.
MAX_GROUP = 256


@dataclass
class BeatJob:
    """One beat waiting to be written, with the login token it came under and its answer."""

    login_token: str
    beat: BeatInput
    answer: "Future[BeatOutcome]" = field(default_factory=Future)


def write_beat(session: Session, login_token: str, beat: BeatInput, now: datetime) -> BeatOutcome:
    """Check the login (the same rule as every request's: an open session, an active user who
    need not change a password first) and store the beat, in the caller's transaction."""
    user = find_session_user(session=session, token=login_token)
    if user is None:
        raise NotAuthenticated(N_("Please log in."))
    if user.must_change_password:
        raise PasswordChangeRequired(N_("Change your password before you continue."))
    return record_beat(session=session, user=user, login_token=login_token, beat=beat, now=now)


def write_group(jobs: list[BeatJob]) -> None:
    """Store `jobs` in one transaction, each in a savepoint; answer each after the commit (its
    outcome or its own refusal), or fail them all with the commit's error."""
    try:
        with write_scope() as session:
            results = store_group(
                session, [(job.login_token, job.beat) for job in jobs], slow_path=write_beat
            )
    except Exception as exc:  # the commit (or the transaction) failed: nothing is stored
        for job in jobs:
            job.answer.set_exception(exc)
        return
    for job, result in zip(jobs, results, strict=True):
        if isinstance(result, BaseException):
            job.answer.set_exception(result)
        else:
            job.answer.set_result(result)


class BeatWriter:
    """The process's beat writer: a daemon thread started on first use, fed by a queue."""

    def __init__(self, max_group: int = MAX_GROUP) -> None:
        self.max_group = max_group
        self._queue: queue.SimpleQueue[BeatJob] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, job: BeatJob) -> "Future[BeatOutcome]":
        """Queue a beat; its future is answered after the commit of the group it lands in."""
        if self._thread is None or not self._thread.is_alive():
            with self._start:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="beat-writer", daemon=True
                    )
                    self._thread.start()
        self._queue.put(job)
        return job.answer

    async def write(self, *, login_token: str, beat: BeatInput) -> BeatOutcome:
        """Store a beat and wait (without holding a worker thread) until it is committed."""
        return await asyncio.wrap_future(self.submit(BeatJob(login_token=login_token, beat=beat)))

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            while len(group) < self.max_group:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                write_group(group)
            except BaseException as exc:  # never leave a caller waiting; keep the writer alive
                log.exception("beat writer: a group failed")
                for job in group:
                    if not job.answer.done():
                        job.answer.set_exception(exc)


BEAT_WRITER = BeatWriter()
