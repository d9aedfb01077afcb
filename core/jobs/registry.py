"""The one table of job types: each kind's handler, how often it may run, its time limit, and
what to do when it has failed for good."""

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.jobs.attempt import Attempt
from core.jobs.models import Job
from core.settings import get_settings

Handler = Callable[[Attempt], None]
FailureHook = Callable[[Session, Job, str], None]


@dataclass(frozen=True)
class JobType:
    """One kind of job: its handler, its attempts, its time limit and its failure hook.

    `timeout` (seconds, None for none) is the time one attempt may take; a thread cannot be
    stopped from outside, so the handler passes `Attempt.time_left()` to whatever it waits on.
    `on_failure` runs in the transaction that marks the job failed, to show the failure on the
    object the job was working on.
    """

    kind: str
    handler: Handler
    max_attempts: int
    timeout: float | None
    on_failure: FailureHook | None


JOB_TYPES: dict[str, JobType] = {}


def job_type(
    kind: str,
    *,
    max_attempts: int | None = None,
    timeout: float | None = None,
    on_failure: FailureHook | None = None,
) -> Callable[[Handler], Handler]:
    """Register the handler of `kind` jobs with its retry policy and time limit."""

    def register(handler: Handler) -> Handler:
        attempts = max_attempts or get_settings().job_max_attempts
        JOB_TYPES[kind] = JobType(kind, handler, attempts, timeout, on_failure)
        return handler

    return register


def get_job_type(kind: str) -> JobType:
    """The registered type of `kind` jobs; ValueError if this process has no handler for it."""
    try:
        return JOB_TYPES[kind]
    except KeyError:
        raise ValueError(f"no handler registered for job kind {kind!r}") from None
