"""site_sessions, site_session_attendance, site_session_lessons, site_frames: group sessions
projected from site records

Revision ID: 0013_site_sessions
Revises: 0011_recurring
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_site_sessions"
down_revision: str | None = "0011_recurring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("administrator", sa.String(length=200), nullable=False),
        sa.Column("lesson_ids", sa.JSON(), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("played_seconds", sa.Double(), nullable=False),
        sa.Column("distrusted", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_sessions_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_sessions")),
        sa.UniqueConstraint("uuid", name=op.f("uq_site_sessions_uuid")),
    )
    op.create_index(
        "ix_site_sessions_site_started", "site_sessions", ["site_id", "started_at"], unique=False
    )
    op.create_table(
        "site_session_attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("present_seconds", sa.Double(), nullable=False),
        sa.Column("qualified", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_site_session_attendance_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["site_sessions.id"],
            name=op.f("fk_site_session_attendance_session_id_site_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_session_attendance")),
        sa.UniqueConstraint(
            "session_id", "member_id", name=op.f("uq_site_session_attendance_session_id")
        ),
    )
    op.create_table(
        "site_session_lessons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("spans", sa.JSON(), nullable=False),
        sa.Column("first_played_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_played_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("coverage", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lessons.id"],
            name=op.f("fk_site_session_lessons_lesson_id_lessons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["site_sessions.id"],
            name=op.f("fk_site_session_lessons_session_id_site_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_session_lessons")),
        sa.UniqueConstraint(
            "session_id", "lesson_id", name=op.f("uq_site_session_lessons_session_id")
        ),
    )
    op.create_table(
        "site_frames",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_uuid", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("session_uuid", sa.String(length=36), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Double(), nullable=False),
        sa.Column("mark", sa.String(length=20), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_frames_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_frames")),
        sa.UniqueConstraint("record_uuid", name=op.f("uq_site_frames_record_uuid")),
    )
    op.create_index(
        "ix_site_frames_site_session", "site_frames", ["site_id", "session_uuid"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_site_frames_site_session", table_name="site_frames")
    op.drop_table("site_frames")
    op.drop_table("site_session_lessons")
    op.drop_table("site_session_attendance")
    op.drop_index("ix_site_sessions_site_started", table_name="site_sessions")
    op.drop_table("site_sessions")
