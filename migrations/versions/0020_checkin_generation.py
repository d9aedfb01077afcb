"""members.checkin_generation: which check-in code is the member's (renewed on /me)

Revision ID: 0020_checkin_generation
Revises: 0019_day_neighbours
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_checkin_generation"
down_revision: str | None = "0019_day_neighbours"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "members",
        sa.Column("checkin_generation", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("members", "checkin_generation")
