"""the program feed's WHIP token of an event (hashed), and viewers' questions for the chair

Revision ID: 0024_whip_questions
Revises: 0023_elections
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_whip_questions"
down_revision: str | None = "0023_elections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("whip_token_hash", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("whip_token_issued_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "event_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("asker", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "on_screen",
                "done",
                "dismissed",
                name="questionstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("moderated_by", sa.Integer(), nullable=True),
        sa.Column("moderated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_questions_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["moderated_by"],
            ["users.id"],
            name=op.f("fk_event_questions_moderated_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_event_questions_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_questions")),
    )
    op.create_index(op.f("ix_event_questions_asker"), "event_questions", ["asker"], unique=False)
    op.create_index(
        op.f("ix_event_questions_event_id"), "event_questions", ["event_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_event_questions_event_id"), table_name="event_questions")
    op.drop_index(op.f("ix_event_questions_asker"), table_name="event_questions")
    op.drop_table("event_questions")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("whip_token_issued_at")
        batch.drop_column("whip_token_hash")
