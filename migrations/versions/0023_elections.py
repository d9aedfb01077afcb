"""elections and their append-only records: the database refuses to update or delete an entry
or a checkpoint of an election's record (triggers, on PostgreSQL and SQLite alike)

Revision ID: 0023_elections
Revises: 0022_media_nodes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_elections"
down_revision: str | None = "0022_media_nodes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("election_entries", "election_checkpoints")


def _refuse_changes() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION election_record_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'an election record is append-only: % on % refused', TG_OP, "
            "TG_TABLE_NAME; END $$ LANGUAGE plpgsql"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION election_record_append_only()"
            )
        return
    for table in APPEND_ONLY:
        for change in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{change.lower()} BEFORE {change} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'an election record is append-only'); END"
            )


def upgrade() -> None:
    op.create_table(
        "elections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_elections_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_elections_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_elections_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elections")),
    )
    op.create_index(op.f("ix_elections_event_id"), "elections", ["event_id"], unique=False)
    op.create_index(op.f("ix_elections_org_id"), "elections", ["org_id"], unique=False)
    op.create_table(
        "election_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["elections.id"],
            name=op.f("fk_election_checkpoints_election_id_elections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_election_checkpoints")),
        sa.UniqueConstraint("election_id", "seq", name=op.f("uq_election_checkpoints_election_id")),
    )
    op.create_index(
        op.f("ix_election_checkpoints_election_id"),
        "election_checkpoints",
        ["election_id"],
        unique=False,
    )
    op.create_table(
        "election_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["elections.id"],
            name=op.f("fk_election_entries_election_id_elections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_election_entries")),
        sa.UniqueConstraint("election_id", "seq", name=op.f("uq_election_entries_election_id")),
    )
    op.create_index(
        op.f("ix_election_entries_election_id"), "election_entries", ["election_id"], unique=False
    )
    _refuse_changes()


def downgrade() -> None:
    # The tables go, and their triggers with them (PostgreSQL's function is dropped after).
    op.drop_index(op.f("ix_election_entries_election_id"), table_name="election_entries")
    op.drop_table("election_entries")
    op.drop_index(op.f("ix_election_checkpoints_election_id"), table_name="election_checkpoints")
    op.drop_table("election_checkpoints")
    op.drop_index(op.f("ix_elections_org_id"), table_name="elections")
    op.drop_index(op.f("ix_elections_event_id"), table_name="elections")
    op.drop_table("elections")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION election_record_append_only()")
