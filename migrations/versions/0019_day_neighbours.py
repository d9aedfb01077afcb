"""site_record_days: a day's counter moves on for records of the day and of either day beside
it, so a day's figures are stale exactly when its own counter moved; the days beside the days
noted so far get counters, and the figures kept so far are made again

Revision ID: 0019_day_neighbours
Revises: 0018_typed_intervals
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019_day_neighbours"
down_revision: str | None = "0018_typed_intervals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        beside = ("day - 1", "day + 1")
    else:
        beside = ("date(day, '-1 day')", "date(day, '+1 day')")
    for day in beside:
        op.execute(
            f"INSERT INTO site_record_days (site_id, day, revision)"
            f" SELECT DISTINCT site_id, {day}, 1 FROM site_record_days WHERE true"
            f" ON CONFLICT (site_id, day) DO NOTHING"
        )
    # Kept figures carry sums of three counters: made again from the records on first use.
    op.execute("DELETE FROM site_day_figures")


def downgrade() -> None:
    op.execute("DELETE FROM site_day_figures")
