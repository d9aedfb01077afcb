"""The job runner: claim once, fenced attempts, retries with backoff, permanent failures, recovery
of lost workers and of lost hand-offs (the outbox sweep)."""

import errno
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from core.db import session_scope, utcnow
from core.errors import InvalidInput, TemporaryError
from core.jobs import (
    Attempt,
    AttemptStopped,
    Worker,
    create_job,
    enqueue,
    execute_job,
    get_huey,
    hand_over_due_jobs,
    is_temporary,
    job_type,
    queue_task,
    recover_stalled_jobs,
    retry_delay,
)
from core.jobs.models import Job, JobStatus
from core.jobs.queue import make_huey
from core.jobs.worker import LOST_TOO_OFTEN
from core.storage import StorageError
from tests.faults import failing_statements, job_update

calls: list[str] = []
failures: list[str] = []
gate = threading.Event()


def _on_failure(session: Session, job: Job, reason: str) -> None:
    failures.append(reason)


@job_type("test.echo", max_attempts=3, on_failure=_on_failure)
def _echo(attempt: Attempt) -> None:
    mode = attempt.payload["mode"]
    calls.append(mode)
    if mode == "bad":
        raise InvalidInput("坏输入 bad input")
    if mode == "flaky" and attempt.number < 2:
        raise TemporaryError("store away")
    if mode == "broken":
        raise RuntimeError("always broken")
    if mode == "disk_full":
        with open("/dev/full", "wb") as full:  # a real ENOSPC from the kernel
            full.write(b"x" * 65536)
    if mode == "wait" and attempt.number == 1:
        gate.wait(30)
    attempt.progress(0.5)
    with attempt.finish() as session:
        session.execute(
            update(Job).where(Job.id == attempt.job_id).values(error=f"result of {attempt.number}")
        )


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    failures.clear()
    gate.clear()


def _job(mode: str) -> int:
    with session_scope() as session:
        return create_job(session=session, kind="test.echo", payload={"mode": mode}).id


def _status(job_id: int) -> Job:
    with session_scope() as session:
        return session.get_one(Job, job_id)


def _wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _run_worker_until_done(job_id: int) -> None:
    worker = Worker(workers=1)
    worker.start()
    try:
        _wait_for(lambda: _status(job_id).status is JobStatus.done)
    finally:
        worker.stop()


def test_success_marks_done_and_runs_once() -> None:
    job_id = _job("ok")
    assert execute_job(job_id).status is JobStatus.done
    assert execute_job(job_id).status is None  # a second delivery is a no-op
    job = _status(job_id)
    assert (job.status, job.progress, job.attempts, calls) == (JobStatus.done, 1.0, 1, ["ok"])
    assert job.error == "result of 1"


def test_bad_input_fails_without_retry_and_calls_the_failure_hook() -> None:
    job_id = _job("bad")
    outcome = execute_job(job_id)
    assert outcome.status is JobStatus.failed and outcome.retry_in is None
    assert _status(job_id).error == "坏输入 bad input" and _status(job_id).attempts == 1
    assert failures == ["坏输入 bad input"]


def test_temporary_failure_is_retried_after_its_backoff_and_not_before() -> None:
    job_id = _job("flaky")
    before = utcnow()
    first = execute_job(job_id)
    assert first.status is JobStatus.queued and first.retry_in == retry_delay(1)
    job = _status(job_id)
    assert job.not_before is not None
    assert job.not_before >= before + timedelta(seconds=retry_delay(1))
    assert execute_job(job_id).status is None  # an early delivery does not cut the backoff
    time.sleep(first.retry_in)
    assert execute_job(job_id).status is JobStatus.done
    assert _status(job_id).attempts == 2 and calls == ["flaky", "flaky"]
    assert retry_delay(3) == 4 * retry_delay(1)


def test_unexpected_errors_give_up_after_max_attempts() -> None:
    job_id = _job("broken")
    outcomes = []
    for _ in range(3):
        outcomes.append(execute_job(job_id))
        time.sleep(outcomes[-1].retry_in or 0)
    assert [o.status for o in outcomes] == [JobStatus.queued, JobStatus.queued, JobStatus.failed]
    assert _status(job_id).attempts == 3
    assert failures == ["always broken"]


def test_failures_are_classed_temporary_or_permanent() -> None:
    assert is_temporary(OSError(errno.ENOSPC, "No space left on device"))
    assert is_temporary(TimeoutError())
    assert is_temporary(TemporaryError("store away"))
    assert is_temporary(StorageError("cannot write lessons/1/hls/master.m3u8"))
    assert is_temporary(RuntimeError("a bug that may not recur"))
    assert not is_temporary(InvalidInput("bad input"))


def test_a_full_disk_is_retried() -> None:
    job_id = _job("disk_full")
    outcome = execute_job(job_id)
    assert outcome.status is JobStatus.queued and outcome.retry_in == retry_delay(1)
    assert "No space left on device" in (_status(job_id).error or "")
    assert failures == []


def test_stale_running_job_is_recovered_and_finished_by_a_worker() -> None:
    job_id = _job("ok")
    with session_scope() as session:
        job = session.get_one(Job, job_id)
        job.status, job.attempts = JobStatus.running, 1
        job.heartbeat_at = utcnow() - timedelta(minutes=5)
    _run_worker_until_done(job_id)
    job = _status(job_id)
    assert job.status is JobStatus.done and job.attempts == 2


def test_fresh_running_job_is_left_alone() -> None:
    job_id = _job("ok")
    with session_scope() as session:
        job = session.get_one(Job, job_id)
        job.status, job.heartbeat_at = JobStatus.running, utcnow()
    assert recover_stalled_jobs() == []


def test_stale_recovery_fails_a_job_that_used_all_its_attempts() -> None:
    job_id = _job("ok")
    with session_scope() as session:
        job = session.get_one(Job, job_id)
        job.status, job.attempts = JobStatus.running, 3
        job.heartbeat_at = utcnow() - timedelta(minutes=5)
    assert recover_stalled_jobs() == []
    job = _status(job_id)
    assert (job.status, job.error, job.attempts) == (JobStatus.failed, LOST_TOO_OFTEN, 3)
    assert failures == [LOST_TOO_OFTEN]
    assert execute_job(job_id).status is None and calls == []


def test_an_attempt_taken_over_can_write_nothing() -> None:
    job_id = _job("wait")
    first: list[object] = []
    runner = threading.Thread(target=lambda: first.append(execute_job(job_id)))
    runner.start()
    _wait_for(lambda: calls == ["wait"])  # attempt 1 is running and holds its heartbeat

    def take_over() -> bool:
        with session_scope() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(heartbeat_at=utcnow() - timedelta(minutes=5))
            )
        return recover_stalled_jobs() == [job_id]

    _wait_for(take_over)  # its own heartbeat may win a round; recovery wins the next
    assert execute_job(job_id).status is JobStatus.done  # attempt 2 runs to the end
    gate.set()
    runner.join(timeout=30)
    assert first[0].status is None  # type: ignore[attr-defined]
    job = _status(job_id)
    assert (job.status, job.attempts, job.error) == (JobStatus.done, 2, "result of 2")


def test_progress_of_an_attempt_taken_over_stops_its_handler() -> None:
    job_id = _job("ok")
    with session_scope() as session:
        job = session.get_one(Job, job_id)
        job.status, job.attempts, job.heartbeat_at = JobStatus.running, 2, utcnow()
    zombie = Attempt(job_id=job_id, number=1, kind="test.echo", payload={}, timeout=None, echo=None)
    with pytest.raises(AttemptStopped):
        zombie.progress(0.7)
    unaware = Attempt(
        job_id=job_id, number=1, kind="test.echo", payload={}, timeout=None, echo=None
    )
    with pytest.raises(AttemptStopped), unaware.finish() as session:
        session.execute(update(Job).where(Job.id == job_id).values(error="zombie result"))
    job = _status(job_id)
    assert (job.status, job.progress, job.attempts, job.error) == (JobStatus.running, 0.0, 2, None)


def test_a_failing_heartbeat_is_logged_retried_and_never_ends_the_beat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job_id = _job("wait")
    with failing_statements(job_update("heartbeat_at"), times=2) as beats:
        runner = threading.Thread(target=execute_job, args=(job_id,))
        runner.start()
        _wait_for(lambda: len(beats.passed) >= 2)  # beating again after two failed beats
        gate.set()
        runner.join(timeout=30)
    assert len(beats.failed) == 2
    assert caplog.text.count("heartbeat not stored") == 2
    job = _status(job_id)
    assert (job.status, job.attempts) == (JobStatus.done, 1)


def test_an_outcome_the_database_refused_is_stored_once_it_answers() -> None:
    job_id = _job("flaky")
    with failing_statements(job_update("status", "error"), times=2) as writes:
        started = time.monotonic()
        outcome = execute_job(job_id)
    assert len(writes.failed) == 2 and len(writes.passed) == 1
    assert outcome.status is JobStatus.queued and time.monotonic() - started < 5
    job = _status(job_id)
    assert (job.status, job.attempts, job.error) == (JobStatus.queued, 1, "store away")
    time.sleep(retry_delay(1))
    assert execute_job(job_id).status is JobStatus.done
    assert _status(job_id).attempts == 2 and calls == ["flaky", "flaky"]


def test_enqueue_reaches_a_worker() -> None:
    job_id = _job("ok")
    assert enqueue(job_id)
    assert _status(job_id).enqueued_at is not None
    _run_worker_until_done(job_id)
    assert _status(job_id).attempts == 1


def test_a_failed_enqueue_is_handed_over_by_the_sweeper(monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = _job("ok")
    unreachable = make_huey("redis://127.0.0.1:9/0")  # nothing listens on port 9
    with monkeypatch.context() as patch:
        patch.setattr(get_huey(), "storage", unreachable.storage)
        assert enqueue(job_id) is False  # the caller carries on; the job row is kept
    job = _status(job_id)
    assert (job.status, job.enqueued_at, get_huey().pending_count()) == (JobStatus.queued, None, 0)
    _run_worker_until_done(job_id)
    assert _status(job_id).attempts == 1 and calls == ["ok"]


def test_a_job_committed_but_never_enqueued_is_run_by_a_worker() -> None:
    job_id = _job("ok")  # as after a crash between the commit and the hand-off
    _run_worker_until_done(job_id)
    assert _status(job_id).enqueued_at is not None and calls == ["ok"]


def test_a_scheduled_retry_survives_a_lost_queue() -> None:
    job_id = _job("flaky")
    queue_task().call_local(job_id)  # attempt 1 fails; its retry is handed to the queue with an eta
    assert get_huey().pending_count() == 1
    get_huey().flush()  # the queue forgets it (a restart with an empty Redis)
    assert _status(job_id).not_before is not None  # the row still knows
    _run_worker_until_done(job_id)
    assert _status(job_id).attempts == 2


def test_a_job_waiting_in_the_queue_is_not_handed_over_twice() -> None:
    job_id = _job("ok")
    assert hand_over_due_jobs() == []  # within the grace after its creation
    enqueue(job_id)
    with session_scope() as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(enqueued_at=utcnow() - timedelta(hours=1))
        )
    assert hand_over_due_jobs() == [] and get_huey().pending_count() == 1  # no worker yet: it waits
    get_huey().flush()
    assert hand_over_due_jobs() == [job_id] and get_huey().pending_count() == 1
