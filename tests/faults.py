"""Real faults for tests: statements the database driver fails as a locked or lost database
makes them fail (the driver's own OperationalError, wrapped by SQLAlchemy as usual), and a
directory nobody may write to, root included."""

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event

from core.db import get_engine


@dataclass
class Statements:
    """What went through while faults were injected: statements that failed, and that passed."""

    failed: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)


@contextmanager
def failing_statements(match: Callable[[str], bool], *, times: int) -> Iterator[Statements]:
    """Make the first `times` statements for which `match(sql)` holds fail with the driver's
    OperationalError; later matching statements pass (and are counted)."""
    seen = Statements()

    def before(connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if not match(statement):
            return
        if len(seen.failed) < times:
            seen.failed.append(statement)
            raise connection.dialect.loaded_dbapi.OperationalError("database is locked (injected)")
        seen.passed.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def job_update(*columns: str) -> Callable[[str], bool]:
    """Matches an UPDATE of the jobs table whose SET list starts with `columns`, in order."""

    def match(statement: str) -> bool:
        if not statement.startswith("UPDATE jobs SET "):
            return False
        assignments = statement.removeprefix("UPDATE jobs SET ").partition(" WHERE ")[0]
        return re.findall(r"(\w+)=", assignments)[: len(columns)] == list(columns)

    return match


@contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """Make a directory unwritable for real, for root too (which ignores mode bits)."""
    directory.chmod(0o555)
    immutable = os.geteuid() == 0
    if immutable:
        subprocess.run(["chattr", "+i", str(directory)], check=True)
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        directory.chmod(0o755)
