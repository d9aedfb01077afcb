"""The worker: Huey consumer threads, a background loop that recovers and re-queues, a clean stop.

The background loop (in every worker) takes over running jobs whose heartbeat went stale (their
worker was killed or its machine lost) and hands over queued jobs the queue lost. A stop (SIGTERM,
SIGINT, or the host app's shutdown) takes a few seconds at most, even in the middle of a
transcode: running attempts are stopped and their jobs queued again at once for another worker.
"""

import logging
import signal
import threading
from datetime import timedelta

from sqlalchemy import select, update

from core.db import session_scope, utcnow
from core.i18n import N_
from core.jobs.execution import allow_attempts, stop_attempts
from core.jobs.models import Job, JobStatus
from core.jobs.queue import enqueue, get_huey, hand_over_due_jobs
from core.jobs.registry import JOB_TYPES
from core.jobs.schedule import run_due_recurring
from core.settings import get_settings

log = logging.getLogger(__name__)

LOST_TOO_OFTEN = N_("Processing stopped on every attempt: the worker was lost each time.")
# A stopping worker waits this long for its threads, then leaves (within SIGTERM's 10 s).
STOP_SECONDS = 7.0
# How often `Worker.run` checks that the consumer threads are alive.
_HEALTH_SECONDS = 10.0


def recover_stalled_jobs() -> list[int]:
    """Take over the running jobs whose heartbeat went stale: queue them again, or fail them
    (with their failure hook) once they have used all their attempts."""
    settings = get_settings()
    cutoff = utcnow() - timedelta(seconds=settings.job_stale_seconds)
    with session_scope() as session:
        stale = session.execute(
            select(Job.id, Job.kind, Job.attempts).where(
                Job.status == JobStatus.running, Job.heartbeat_at < cutoff
            )
        ).all()
    requeued = []
    for job_id, kind, number in stale:
        job_spec = JOB_TYPES.get(kind)
        max_attempts = job_spec.max_attempts if job_spec else settings.job_max_attempts
        used_up = number >= max_attempts
        with session_scope() as session:
            taken = session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.status == JobStatus.running,
                    Job.attempts == number,
                    Job.heartbeat_at < cutoff,
                )
                .values(
                    status=JobStatus.failed if used_up else JobStatus.queued,
                    error=LOST_TOO_OFTEN if used_up else Job.error,
                    finished_at=utcnow() if used_up else None,
                )
            )
            if not taken.rowcount:  # type: ignore[attr-defined]
                continue  # it beat meanwhile, or another worker took it over first
            if not used_up:
                requeued.append(job_id)
                log.warning("job %s (attempt %s) lost its worker; queued again", job_id, number)
                continue
            log.error("job %s lost its worker on all %s attempts; failed", job_id, number)
            if job_spec is not None and job_spec.on_failure is not None:
                job_spec.on_failure(session, session.get_one(Job, job_id), LOST_TOO_OFTEN)
    for job_id in requeued:
        enqueue(job_id)
    return requeued


class Worker:
    """Huey consumer threads plus the background loop (`yuanjiao worker`; inside `yuanjiao run`).

    One worker per process: stopping it stops every attempt running in the process.
    """

    def __init__(self, *, workers: int = 1) -> None:
        self.consumer = get_huey().create_consumer(
            workers=workers, worker_type="thread", periodic=False, shutdown_timeout=STOP_SECONDS
        )
        self._stopped = threading.Event()
        self._loop = threading.Thread(target=self._sweep, name="job-sweeper", daemon=True)

    def start(self) -> None:
        """Start consuming in background threads, leaving the host's signal handlers in place."""
        allow_attempts()
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        saved = {signum: signal.getsignal(signum) for signum in handled}
        self.consumer.start()
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        self._loop.start()

    def run(self) -> None:
        """Consume in the foreground until SIGTERM or SIGINT, then stop (`yuanjiao worker`)."""
        asked = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda _signum, _frame: asked.set())
        self.start()
        while not asked.wait(_HEALTH_SECONDS):
            self.consumer.check_worker_health()
        log.info("stopping the worker")
        self.stop()

    def stop(self) -> None:
        """Stop within seconds: take no new job, stop the running attempts (their jobs are queued
        again at once), and wait for the threads."""
        self._stopped.set()
        stop_attempts()
        self.consumer.stop(graceful=True)
        if self._loop.is_alive():
            self._loop.join(timeout=1.0)
        allow_attempts()

    def _sweep(self) -> None:
        settings = get_settings()
        shortest = min(settings.job_stale_seconds, settings.job_enqueue_grace_seconds)
        interval = min(max(shortest / 2, 0.5), 15.0)
        while True:
            for task in (recover_stalled_jobs, hand_over_due_jobs, run_due_recurring):
                try:
                    task()
                except Exception:
                    log.exception("job sweep (%s) failed", task.__name__)
            if self._stopped.wait(interval):
                return
