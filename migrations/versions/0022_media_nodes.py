"""media nodes: the processes that hold rooms, and which room each holds; the sub-venue of a
stretch of attendance

Revision ID: 0022_media_nodes
Revises: 0021_events
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_media_nodes"
down_revision: str | None = "0021_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_nodes",
        sa.Column("url", sa.String(length=300), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_media_nodes")),
    )
    op.create_index(op.f("ix_media_nodes_seen_at"), "media_nodes", ["seen_at"], unique=False)
    op.create_table(
        "room_placements",
        sa.Column("room", sa.String(length=100), nullable=False),
        sa.Column("node_url", sa.String(length=300), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_url"],
            ["media_nodes.url"],
            name=op.f("fk_room_placements_node_url_media_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("room", name=op.f("pk_room_placements")),
    )
    op.create_index(
        op.f("ix_room_placements_node_url"), "room_placements", ["node_url"], unique=False
    )
    with op.batch_alter_table("event_attendance") as batch:
        batch.add_column(sa.Column("site_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_event_attendance_site_id_sites"), "sites", ["site_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("event_attendance") as batch:
        batch.drop_constraint(batch.f("fk_event_attendance_site_id_sites"), type_="foreignkey")
        batch.drop_column("site_id")
    op.drop_index(op.f("ix_room_placements_node_url"), table_name="room_placements")
    op.drop_table("room_placements")
    op.drop_index(op.f("ix_media_nodes_seen_at"), table_name="media_nodes")
    op.drop_table("media_nodes")
