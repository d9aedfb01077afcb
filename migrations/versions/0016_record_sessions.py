"""site_records.session_uuid: the group session a record names, indexed

Revision ID: 0016_record_sessions
Revises: 0015_holdings
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_record_sessions"
down_revision: str | None = "0015_holdings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("site_records", sa.Column("session_uuid", sa.String(length=36), nullable=True))
    records = sa.table("site_records", sa.column("body", sa.JSON), sa.column("session_uuid"))
    session_id = records.c.body["session_id"].as_string()
    op.execute(
        records.update()
        .where(session_id.is_not(None), sa.func.length(session_id) <= 36)
        .values(session_uuid=session_id)
    )
    op.create_index(
        "ix_site_records_site_session", "site_records", ["site_id", "session_uuid"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_site_records_site_session", table_name="site_records")
    op.drop_column("site_records", "session_uuid")
