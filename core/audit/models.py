"""One row per audited action; rows are only ever inserted."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, CleanString, UTCDateTime, utcnow


class AuditEntry(Base):
    """An action by an actor (a user, or nobody for a failed login) on a target, with the
    organisation it concerns so that admins see the entries of their subtree."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_login: Mapped[str] = mapped_column(CleanString(80), default="")
    action: Mapped[str] = mapped_column(CleanString(60), index=True)
    target_type: Mapped[str] = mapped_column(CleanString(40), default="")
    target_id: Mapped[str] = mapped_column(CleanString(80), default="")
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    address: Mapped[str] = mapped_column(CleanString(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
