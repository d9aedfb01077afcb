"""Background jobs: a durable row per job (the source of truth), Huey to carry job ids to workers,
fenced attempts, retries with backoff, recovery of lost jobs and of lost hand-offs.

Modules: `models` (the job row), `attempt` (what a handler holds: fenced writes, progress, a
stop), `registry` (the one table of job types), `execution` (claim, heartbeat, outcome), `queue`
(hand-off to Huey and the outbox sweep), `schedule` (recurring work, one worker per period),
`worker` (the consumer, its background loop and a clean stop).
"""

from core.jobs.attempt import Attempt, AttemptStopped, Progress
from core.jobs.execution import Outcome, execute_job, is_temporary, retry_delay
from core.jobs.queue import (
    create_job,
    create_jobs,
    enqueue,
    get_huey,
    hand_over_due_jobs,
    queue_task,
    run_job,
)
from core.jobs.registry import Handler, job_type
from core.jobs.schedule import recurring, run_due_recurring
from core.jobs.worker import Worker, recover_stalled_jobs

__all__ = [
    "Attempt",
    "AttemptStopped",
    "Handler",
    "Outcome",
    "Progress",
    "Worker",
    "create_job",
    "create_jobs",
    "enqueue",
    "execute_job",
    "get_huey",
    "hand_over_due_jobs",
    "is_temporary",
    "job_type",
    "queue_task",
    "recover_stalled_jobs",
    "recurring",
    "run_due_recurring",
    "retry_delay",
    "run_job",
]
