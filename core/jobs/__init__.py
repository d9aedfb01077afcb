"""Background jobs: a durable row per job, Huey to carry job ids, retries and recovery."""

from core.jobs.service import (
    Handler,
    Outcome,
    Progress,
    Worker,
    create_job,
    enqueue,
    execute_job,
    get_huey,
    job_type,
    recover_stalled_jobs,
    retry_delay,
    run_job,
)

__all__ = [
    "Handler",
    "Outcome",
    "Progress",
    "Worker",
    "create_job",
    "enqueue",
    "execute_job",
    "get_huey",
    "job_type",
    "recover_stalled_jobs",
    "retry_delay",
    "run_job",
]
