"""Handing jobs to the queue; the job row is the source of truth (a transactional outbox).

A job is written in its caller's transaction (`create_job`) and handed to Huey after the commit
(`enqueue`), which notes the hand-off in `jobs.enqueued_at`. Huey carries only the job's id. A job
whose hand-off never happened (a crash between commit and enqueue), failed (the queue was away) or
was lost (the queue was flushed, a scheduled retry went with a restart) is handed over again by
`hand_over_due_jobs`, which every worker's background loop runs: once the job is due and a grace
period has passed since its last hand-off, unless it is still waiting in the queue.
"""

import logging
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from redis import ConnectionPool
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from core.db import session_scope, utcnow
from core.errors import ConfigurationError
from core.i18n import N_
from core.jobs.execution import accepting_attempts, execute_job
from core.jobs.models import Job, JobStatus
from core.jobs.registry import get_job_type
from core.settings import get_settings

log = logging.getLogger(__name__)

# At most this many jobs are handed over again per sweep (the next sweep takes the rest).
_SWEEP_BATCH = 500


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


def queue_task() -> Any:
    """The queue's one task (a Huey TaskWrapper around `run_job`)."""
    return _queue()[1]


def create_job(*, session: Session, kind: str, payload: dict[str, Any]) -> Job:
    """Record a job in the caller's transaction; `enqueue` it after the commit."""
    get_job_type(kind)
    job = Job(kind=kind, payload=payload, status=JobStatus.queued)
    session.add(job)
    session.flush()
    return job


def create_jobs(*, session: Session, kind: str, payloads: list[dict[str, Any]]) -> list[Job]:
    """Record many jobs of one kind in the caller's transaction with one flush (a notice to a
    whole township is thousands of deliveries); `enqueue` them after the commit."""
    get_job_type(kind)
    jobs = [Job(kind=kind, payload=payload, status=JobStatus.queued) for payload in payloads]
    session.add_all(jobs)
    session.flush()
    return jobs


def enqueue(job_id: int, *, delay: float = 0) -> bool:
    """Hand a committed job to the queue and note when; False if the queue is away (the sweeper
    hands the job over later, so the caller carries on)."""
    try:
        if delay > 0:
            queue_task().schedule((job_id,), delay=delay)
        else:
            queue_task()(job_id)
    except Exception as exc:
        log.warning("job %s not handed to the queue; the sweeper will: %s", job_id, exc)
        return False
    try:
        with session_scope() as session:
            # Whatever the status: a worker may already have taken and finished the job.
            session.execute(update(Job).where(Job.id == job_id).values(enqueued_at=utcnow()))
    except Exception as exc:
        log.warning("job %s handed to the queue, but the time not noted: %s", job_id, exc)
    return True


def run_job(job_id: int) -> None:
    """The one queue task: run an attempt of this job (a no-op unless it is queued and due)."""
    if not accepting_attempts():
        enqueue(job_id)  # this worker is stopping: leave the job to the next one
        return
    outcome = execute_job(job_id)
    if outcome.retry_in is not None:
        enqueue(job_id, delay=outcome.retry_in)


def hand_over_due_jobs() -> list[int]:
    """Hand to the queue again the queued jobs that are due and that no worker took within the
    grace period after their last hand-off, leaving alone those still waiting in the queue."""
    if not _due_jobs():
        return []
    waiting = _jobs_in_queue()
    # Read again after the queue: a job a worker took from the queue meanwhile is running now.
    handed = [job_id for job_id in _due_jobs() if job_id not in waiting and enqueue(job_id)]
    if handed:
        log.warning("jobs %s were not taken from the queue; handed over again", handed)
    return handed


def _due_jobs() -> list[int]:
    """Queued jobs due since the grace period and not handed over within it, oldest first."""
    cutoff = utcnow() - timedelta(seconds=get_settings().job_enqueue_grace_seconds)
    with session_scope() as session:
        return list(
            session.scalars(
                select(Job.id)
                .where(
                    Job.status == JobStatus.queued,
                    or_(Job.not_before.is_(None), Job.not_before <= cutoff),
                    func.coalesce(Job.enqueued_at, Job.created_at) <= cutoff,
                )
                .order_by(Job.id)
                .limit(_SWEEP_BATCH)
            )
        )


def _jobs_in_queue() -> set[int]:
    """Ids of the jobs waiting in the queue or in its schedule."""
    queue, task_wrapper = _queue()
    tasks = queue.pending() + queue.scheduled()
    return {task.args[0] for task in tasks if isinstance(task, task_wrapper.task_class)}
