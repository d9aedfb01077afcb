"""The agent's outbox: every record it makes, kept in SQLite until the server has stored it.

Each record gets a UUID made here and the next number of this agent's sequence (SQLite's
AUTOINCREMENT never reuses a number, even after deletes). A record leaves the outbox only once
the server's high-water mark covers it, so resending after any failure is always safe; stored
records are kept a while for whoever looks into the box, then deleted, so a site that runs for
years does not fill its disk with them.
"""

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.errors import InvalidInput
from core.i18n import N_
from terminals.sync.schemas import RECORD_BODIES

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body TEXT NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS records_pending ON records (acked, seq);
"""
# How long a record the server has stored stays in the outbox.
KEEP_STORED = timedelta(days=90)


class Outbox:
    """Records waiting for the server, in a SQLite file of their own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: records appended with `insert_record` inside it are kept
        together with whatever else the caller writes to this database (all or nothing)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def append_record(
        self, kind: str, body: dict[str, Any], *, occurred_at: datetime | None = None
    ) -> tuple[int, str]:
        """Validate and keep one record; its (sequence number, UUID). Durable on return."""
        with self._connect() as db:
            return insert_record(db, kind, body, occurred_at=occurred_at)

    def pending(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` records not yet acknowledged, in sequence order, as uploaded."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT seq, uuid, kind, occurred_at, body FROM records "
                "WHERE acked = 0 ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            {"seq": s, "uuid": u, "kind": k, "occurred_at": o, "body": json.loads(b)}
            for s, u, k, o, b in rows
        ]

    def acknowledge(self, high_water: int) -> int:
        """Mark every record up to the server's high-water mark as stored, and delete stored
        records made more than KEEP_STORED ago; how many were newly marked."""
        cutoff = (datetime.now(UTC) - KEEP_STORED).isoformat()
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE records SET acked = 1 WHERE acked = 0 AND seq <= ?", (high_water,)
            )
            db.execute("DELETE FROM records WHERE acked = 1 AND occurred_at < ?", (cutoff,))
            return cursor.rowcount

    def pending_count(self) -> int:
        """How many records wait for the server."""
        with self._connect() as db:
            return int(db.execute("SELECT count(*) FROM records WHERE acked = 0").fetchone()[0])


def insert_record(
    db: sqlite3.Connection,
    kind: str,
    body: dict[str, Any],
    *,
    occurred_at: datetime | None = None,
) -> tuple[int, str]:
    """Validate one record against its kind's schema and insert it through `db` (an outbox
    connection, perhaps inside a transaction); its (sequence number, UUID)."""
    schema = RECORD_BODIES.get(kind)
    if schema is None:
        raise InvalidInput(N_("Unknown record kind %(kind)s."), kind=kind)
    try:
        schema.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput(
            N_("A %(kind)s record's body is invalid: %(detail)s"), kind=kind, detail=str(exc)
        ) from exc
    moment = (occurred_at or datetime.now(UTC)).isoformat()
    key = str(uuid.uuid4())
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    cursor = db.execute(
        "INSERT INTO records (uuid, kind, occurred_at, body) VALUES (?, ?, ?, ?)",
        (key, kind, moment, text),
    )
    return int(cursor.lastrowid or 0), key
