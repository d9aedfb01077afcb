"""site_report_cards: each site's report card for a closed month

Revision ID: 0014_reports
Revises: 0013_site_sessions
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_reports"
down_revision: str | None = "0013_site_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_report_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("compliant", sa.Boolean(), nullable=False),
        sa.Column("minutes", sa.Double(), nullable=False),
        sa.Column("group_sessions", sa.Integer(), nullable=False),
        sa.Column("open_days", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("short_in_a_row", sa.Integer(), nullable=False),
        sa.Column("escalated_to", sa.JSON(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_report_cards_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_report_cards")),
        sa.UniqueConstraint("site_id", "year", "month", name=op.f("uq_site_report_cards_site_id")),
    )
    op.create_index(
        "ix_site_report_cards_month_score",
        "site_report_cards",
        ["year", "month", "score", "minutes"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_site_report_cards_month_score", table_name="site_report_cards")
    op.drop_table("site_report_cards")
