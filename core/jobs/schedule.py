"""Work that recurs (plan reminders, monthly report cards): registered with a period, and run by
whichever worker claims it first when it falls due.

The claim is a single conditional UPDATE of the task's `recurring_runs` row, so however many
workers sweep, one runs each period. A run that fails is due again after `RETRY`, not at once.
Recurring work must be idempotent (a crash after the work and before `finished_at` repeats it).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from core.db import session_scope, upsert, utcnow
from core.jobs.models import RecurringRun

log = logging.getLogger(__name__)
RETRY = timedelta(minutes=5)


@dataclass(frozen=True)
class Recurring:
    """A task and how often it runs."""

    name: str
    every: timedelta
    run: Callable[[], object]


_RECURRING: dict[str, Recurring] = {}


def recurring(
    name: str, *, every: timedelta
) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Register `function` to run once every `every`, on one worker."""

    def register(function: Callable[[], object]) -> Callable[[], object]:
        _RECURRING[name] = Recurring(name, every, function)
        return function

    return register


def registered() -> list[Recurring]:
    """The recurring tasks known to this process."""
    return list(_RECURRING.values())


def run_due_recurring(*, now: datetime | None = None) -> list[str]:
    """Run every registered task whose period has passed and that this process claims; returns
    the names it ran."""
    ran = []
    for task in registered():
        moment = now or utcnow()
        if not _claim(task, moment):
            continue
        ran.append(task.name)
        try:
            task.run()
        except Exception as exc:
            log.exception("recurring task %s failed", task.name)
            _finish(task.name, error=str(exc)[:2000], due_again=moment - task.every + RETRY)
        else:
            _finish(task.name, error=None, due_again=None)
    return ran


def _claim(task: Recurring, now: datetime) -> bool:
    with session_scope() as session:
        _ensure_row(session, task.name)
        claimed = session.execute(
            update(RecurringRun)
            .where(
                RecurringRun.name == task.name,
                or_(
                    RecurringRun.claimed_at.is_(None),
                    RecurringRun.claimed_at <= now - task.every,
                ),
            )
            .values(claimed_at=now)
        )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]


def _ensure_row(session: Session, name: str) -> None:
    session.execute(upsert(session, RecurringRun).values(name=name).on_conflict_do_nothing())


def _finish(name: str, *, error: str | None, due_again: datetime | None) -> None:
    values: dict[str, object] = {"finished_at": utcnow(), "error": error}
    if due_again is not None:
        values["claimed_at"] = due_again
    with session_scope() as session:
        session.execute(update(RecurringRun).where(RecurringRun.name == name).values(**values))
