"""Media nodes and the rooms placed on them. A room lives in the memory of one node; the
database says which, so that every web node sends a room's participants to the same place."""

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, CleanString, UTCDateTime, utcnow


class MediaNodeRecord(Base):
    """A process that hosts rooms, named by the URL web nodes reach it at. It says it is alive
    every few seconds; one that has not said so within the timeout is taken for dead."""

    __tablename__ = "media_nodes"

    url: Mapped[str] = mapped_column(CleanString(300), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class RoomPlacement(Base):
    """Where a room is held, from its first participant until it closes."""

    __tablename__ = "room_placements"

    room: Mapped[str] = mapped_column(CleanString(100), primary_key=True)
    node_url: Mapped[str] = mapped_column(
        ForeignKey("media_nodes.url", ondelete="CASCADE"), index=True
    )
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
