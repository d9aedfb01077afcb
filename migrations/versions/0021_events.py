"""events: congresses and meetings, agenda, invitations, sub-venues, attendance, log, motions

Revision ID: 0021_events
Revises: 0020_checkin_generation
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_events"
down_revision: str | None = "0020_checkin_generation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("meeting", "congress", name="eventkind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column(
            "level",
            sa.Enum("grassroots", "county", name="level", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_minutes", sa.Integer(), nullable=False),
        sa.Column("credit_hours", sa.Float(), nullable=False),
        sa.Column("attendance_share", sa.Float(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "scheduled",
                "live",
                "ended",
                "cancelled",
                name="eventstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recording_course_id", sa.Integer(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "attendance_share > 0 AND attendance_share <= 1", name=op.f("ck_events_share_range")
        ),
        sa.CheckConstraint(
            "planned_minutes BETWEEN 5 AND 1440", name=op.f("ck_events_planned_minutes_range")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_events_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_events_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["recording_course_id"],
            ["courses.id"],
            name=op.f("fk_events_recording_course_id_courses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_org_id"), "events", ["org_id"], unique=False)
    op.create_index(op.f("ix_events_starts_at"), "events", ["starts_at"], unique=False)
    op.create_table(
        "event_agenda_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_agenda_items_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_agenda_items")),
        sa.UniqueConstraint("event_id", "position", name=op.f("uq_event_agenda_items_event_id")),
    )
    op.create_index(
        op.f("ix_event_agenda_items_event_id"), "event_agenda_items", ["event_id"], unique=False
    )
    op.create_table(
        "event_attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_attendance_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_event_attendance_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_event_attendance_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_attendance")),
    )
    op.create_index(
        op.f("ix_event_attendance_event_id"), "event_attendance", ["event_id"], unique=False
    )
    op.create_index(
        op.f("ix_event_attendance_member_id"), "event_attendance", ["member_id"], unique=False
    )
    op.create_table(
        "event_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "chair",
                "presidium",
                "speaker",
                "participant",
                "observer",
                name="eventrole",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_invitations_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_event_invitations_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_invitations")),
        sa.UniqueConstraint("event_id", "member_id", name=op.f("uq_event_invitations_event_id")),
    )
    op.create_index(
        op.f("ix_event_invitations_event_id"), "event_invitations", ["event_id"], unique=False
    )
    op.create_index(
        op.f("ix_event_invitations_member_id"), "event_invitations", ["member_id"], unique=False
    )
    op.create_table(
        "event_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_log_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_log")),
    )
    op.create_index(op.f("ix_event_log_event_id"), "event_log", ["event_id"], unique=False)
    op.create_table(
        "event_motions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("agenda_position", sa.Integer(), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("roll", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("ballots", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_motions_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_motions")),
    )
    op.create_index(op.f("ix_event_motions_event_id"), "event_motions", ["event_id"], unique=False)
    op.create_table(
        "event_sub_venues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_sub_venues_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_event_sub_venues_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_sub_venues")),
        sa.UniqueConstraint("event_id", "site_id", name=op.f("uq_event_sub_venues_event_id")),
    )
    op.create_index(
        op.f("ix_event_sub_venues_event_id"), "event_sub_venues", ["event_id"], unique=False
    )
    op.create_index(
        op.f("ix_event_sub_venues_site_id"), "event_sub_venues", ["site_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_event_sub_venues_site_id"), table_name="event_sub_venues")
    op.drop_index(op.f("ix_event_sub_venues_event_id"), table_name="event_sub_venues")
    op.drop_table("event_sub_venues")
    op.drop_index(op.f("ix_event_motions_event_id"), table_name="event_motions")
    op.drop_table("event_motions")
    op.drop_index(op.f("ix_event_log_event_id"), table_name="event_log")
    op.drop_table("event_log")
    op.drop_index(op.f("ix_event_invitations_member_id"), table_name="event_invitations")
    op.drop_index(op.f("ix_event_invitations_event_id"), table_name="event_invitations")
    op.drop_table("event_invitations")
    op.drop_index(op.f("ix_event_attendance_member_id"), table_name="event_attendance")
    op.drop_index(op.f("ix_event_attendance_event_id"), table_name="event_attendance")
    op.drop_table("event_attendance")
    op.drop_index(op.f("ix_event_agenda_items_event_id"), table_name="event_agenda_items")
    op.drop_table("event_agenda_items")
    op.drop_index(op.f("ix_events_starts_at"), table_name="events")
    op.drop_index(op.f("ix_events_org_id"), table_name="events")
    op.drop_table("events")
