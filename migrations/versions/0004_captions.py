"""lesson_captions: a lesson's caption tracks (WebVTT beside its HLS), one per language

Revision ID: 0004_captions
Revises: 0003_load
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_captions"
down_revision: str | None = "0003_load"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lesson_captions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column(
            "language",
            sa.Enum("zh-CN", "en", name="captionlanguage", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("cues", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_lesson_captions_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lessons.id"], name=op.f("fk_lesson_captions_lesson_id_lessons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesson_captions")),
        sa.UniqueConstraint("lesson_id", "language", name=op.f("uq_lesson_captions_lesson_id")),
    )
    with op.batch_alter_table("lesson_captions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lesson_captions_lesson_id"), ["lesson_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("lesson_captions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lesson_captions_lesson_id"))
    op.drop_table("lesson_captions")
