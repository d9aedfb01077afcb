"""site_record_days (the local days a site's records fall on, with counters) and
site_day_figures (the reports' figures per site and day)

Revision ID: 0017_day_figures
Revises: 0016_record_sessions
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_day_figures"
down_revision: str | None = "0016_record_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_record_days",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_record_days_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "day", name=op.f("pk_site_record_days")),
    )
    op.create_table(
        "site_day_figures",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("minutes", sa.Double(), nullable=False),
        sa.Column("started", sa.Integer(), nullable=False),
        sa.Column("sessions", sa.JSON(), nullable=False),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_day_figures_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "day", name=op.f("pk_site_day_figures")),
    )
    # The days of the records stored so far (local time, UTC+8), each at its first revision.
    if op.get_bind().dialect.name == "postgresql":
        day = "CAST(timezone('UTC', occurred_at) + interval '8 hours' AS date)"
    else:
        day = "date(occurred_at, '+8 hours')"
    op.execute(
        f"INSERT INTO site_record_days (site_id, day, revision)"
        f" SELECT site_id, {day}, 1 FROM site_records GROUP BY site_id, {day}"
    )


def downgrade() -> None:
    op.drop_table("site_day_figures")
    op.drop_table("site_record_days")
