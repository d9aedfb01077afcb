"""the ledger key a lesson's hours are awarded under when not its own (a live event's recording
earns the event's credit)

Revision ID: 0025_recording_credit_key
Revises: 0024_whip_questions
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_recording_credit_key"
down_revision: str | None = "0024_whip_questions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lessons") as batch:
        batch.add_column(sa.Column("credit_key", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lessons") as batch:
        batch.drop_column("credit_key")
