"""Elections and their records. An election row names it; everything that happens in it is an
entry of its append-only record (streaming.elections.record), which the database itself refuses
to update or delete (triggers made by migration 0023)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, CleanString, UTCDateTime, utcnow
from core.people.models import Organisation


class Election(Base):
    """A branch's election (公推直选), held at an event (its broadcast and sub-venues)."""

    __tablename__ = "elections"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    title: Mapped[str] = mapped_column(CleanString(200))
    public: Mapped[bool] = mapped_column(default=True)  # its watch page and record need no login
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Organisation] = relationship(lazy="joined")


class ElectionEntry(Base):
    """One fact of an election's record, chained to the one before by ``prev`` (the hash of
    the previous entry's canonical bytes); ``hash`` is its own. Never changed, never removed."""

    __tablename__ = "election_entries"
    __table_args__ = (UniqueConstraint("election_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("elections.id"), index=True)
    seq: Mapped[int] = mapped_column()
    at: Mapped[str] = mapped_column(String(20))  # UTC, YYYY-MM-DDTHH:MM:SSZ, as hashed
    kind: Mapped[str] = mapped_column(String(40))
    author: Mapped[str] = mapped_column(String(120))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ElectionCheckpoint(Base):
    """The server's Ed25519 signature of an entry's hash (streaming.elections.record)."""

    __tablename__ = "election_checkpoints"
    __table_args__ = (UniqueConstraint("election_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("elections.id"), index=True)
    seq: Mapped[int] = mapped_column()
    hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(100))
