"""core.db.write_scope: on SQLite a process's bulk writers take turns on a lock (and one that
waits too long is told to try again); on PostgreSQL they run side by side."""

import threading

import pytest

import core.db
from core.db import get_engine, write_scope
from core.errors import TemporaryError


def test_a_writer_waits_its_turn_on_sqlite_and_not_on_postgresql(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core.db, "SQLITE_BUSY_SECONDS", 0.2)
    holding, done = threading.Event(), threading.Event()

    def first_writer() -> None:
        with write_scope():
            holding.set()
            done.wait(10)

    thread = threading.Thread(target=first_writer)
    thread.start()
    try:
        assert holding.wait(10)
        if get_engine().url.get_backend_name() == "sqlite":
            with pytest.raises(TemporaryError, match="try again"), write_scope():
                pass
        else:
            with write_scope() as session:
                assert session.is_active
    finally:
        done.set()
        thread.join()
    with write_scope() as session:  # the lock was given back
        assert session.is_active
