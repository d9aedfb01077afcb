"""site_records: an interval record's body typed into columns (lesson_id, media_start,
media_end, rate, wall_start), filled for the intervals stored so far

Revision ID: 0018_typed_intervals
Revises: 0017_day_figures
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0018_typed_intervals"
down_revision: str | None = "0017_day_figures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("lesson_id", "media_start", "media_end", "rate", "wall_start")
STEP = 5000


def upgrade() -> None:
    op.add_column("site_records", sa.Column("lesson_id", sa.Integer(), nullable=True))
    for name in COLUMNS[1:]:
        op.add_column("site_records", sa.Column(name, sa.Double(), nullable=True))
    records = sa.table(
        "site_records",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("body", sa.JSON),
        *(sa.column(name) for name in COLUMNS),
    )
    update = (
        records.update()
        .where(records.c.id == sa.bindparam("row_id"))
        .values({name: sa.bindparam(f"new_{name}") for name in COLUMNS})
    )
    connection = op.get_bind()
    last = 0
    while True:  # in steps of ids, parsed here exactly as intake parses a stored body
        rows = connection.execute(
            sa.select(records.c.id, records.c.body)
            .where(records.c.kind == "interval", records.c.id > last)
            .order_by(records.c.id)
            .limit(STEP)
        ).all()
        if not rows:
            break
        connection.execute(update, [_typed(row_id, body) for row_id, body in rows])
        last = rows[-1].id


def _typed(row_id: int, body: dict) -> dict:
    """The columns of one stored interval body (validated when it was stored)."""
    return {
        "row_id": row_id,
        "new_lesson_id": int(body["lesson_id"]),
        "new_media_start": float(body["media_start"]),
        "new_media_end": float(body["media_end"]),
        "new_rate": float(body.get("rate", 1.0)),
        "new_wall_start": _posix(body["started_at"]),
    }


def _posix(started_at: object) -> float:
    """An aware time as sent (ISO 8601, or POSIX seconds, which intake also takes)."""
    try:
        return datetime.fromisoformat(str(started_at)).timestamp()
    except ValueError:
        return float(str(started_at))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("site_records", name)
