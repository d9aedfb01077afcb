"""The job runner: claim once, retry with backoff, fail permanently on bad input, recover."""

import time
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from core.db import session_scope, utcnow
from core.errors import InvalidInput, TemporaryError
from core.jobs import (
    Worker,
    create_job,
    enqueue,
    execute_job,
    job_type,
    recover_stalled_jobs,
    retry_delay,
)
from core.jobs.models import Job, JobStatus

calls: list[str] = []
failures: list[str] = []


def _on_failure(session: Session, job: Job, reason: str) -> None:
    failures.append(reason)


@job_type("test.echo", max_attempts=3, on_failure=_on_failure)
def _echo(session: Session, job: Job, progress: object) -> None:
    calls.append(job.payload["mode"])
    mode = job.payload["mode"]
    if mode == "bad":
        raise InvalidInput("坏输入 bad input")
    if mode == "flaky" and job.attempts < 2:
        raise TemporaryError("store away")
    if mode == "broken":
        raise RuntimeError("always broken")
    assert callable(progress)
    progress(0.5)


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    failures.clear()


def _job(mode: str) -> int:
    with session_scope() as session:
        return create_job(session=session, kind="test.echo", payload={"mode": mode}).id


def _status(job_id: int) -> Job:
    with session_scope() as session:
        return session.get_one(Job, job_id)


def _run_worker_until_done(job_id: int) -> None:
    worker = Worker(workers=1)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while _status(job_id).status is not JobStatus.done and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.stop()


def test_success_marks_done_and_runs_once() -> None:
    job_id = _job("ok")
    assert execute_job(job_id).status is JobStatus.done
    assert execute_job(job_id).status is None  # a second delivery is a no-op
    job = _status(job_id)
    assert (job.status, job.progress, job.attempts, calls) == (JobStatus.done, 1.0, 1, ["ok"])


def test_bad_input_fails_without_retry_and_calls_the_failure_hook() -> None:
    job_id = _job("bad")
    outcome = execute_job(job_id)
    assert outcome.status is JobStatus.failed and outcome.retry_in is None
    assert _status(job_id).error == "坏输入 bad input"
    assert failures == ["坏输入 bad input"]


def test_temporary_failure_is_retried_with_backoff() -> None:
    job_id = _job("flaky")
    first = execute_job(job_id)
    assert first.status is JobStatus.queued and first.retry_in == retry_delay(1)
    assert execute_job(job_id).status is JobStatus.done
    assert retry_delay(3) == 4 * retry_delay(1)


def test_unexpected_errors_give_up_after_max_attempts() -> None:
    job_id = _job("broken")
    outcomes = [execute_job(job_id) for _ in range(3)]
    assert [o.status for o in outcomes] == [JobStatus.queued, JobStatus.queued, JobStatus.failed]
    assert _status(job_id).attempts == 3
    assert failures == ["always broken"]


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


def test_enqueue_reaches_a_worker() -> None:
    job_id = _job("ok")
    enqueue(job_id)
    _run_worker_until_done(job_id)
    assert _status(job_id).status is JobStatus.done
