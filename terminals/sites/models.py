"""A terminal site (终端站点), the accounts that run it, the devices enrolled for it, and what
is assigned to it for download."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Enum, Float, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, CleanString, CleanText, UTCDateTime, utcnow
from core.people.models import Organisation, User


class SiteStatus(enum.StrEnum):
    """A site's life: registered by an org, approved, active once an agent enrols; suspended
    sites get no manifest and their devices are refused."""

    registered = "registered"
    approved = "approved"
    active = "active"
    suspended = "suspended"


class BuildMode(enum.StrEnum):
    """How the site receives programmes."""

    satellite = "satellite"
    cable = "cable"
    broadband = "broadband"
    iptv = "iptv"


class Site(Base):
    """A village or community learning room, a collective account tied to an administrative code.

    `tier` names one of the configured tiers (settings.site_tiers); the tier decides which
    rendition the site downloads.
    """

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The village's administrative code (12 digits in the national scheme).
    code: Mapped[str] = mapped_column(CleanString(32), unique=True)
    name: Mapped[str] = mapped_column(CleanString(200), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    tier: Mapped[str] = mapped_column(CleanString(40), index=True)
    status: Mapped[SiteStatus] = mapped_column(
        Enum(SiteStatus, native_enum=False, length=20), default=SiteStatus.registered, index=True
    )
    host_unit: Mapped[str] = mapped_column(CleanString(200), default="", server_default="")
    address: Mapped[str] = mapped_column(CleanString(300), default="", server_default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    build_mode: Mapped[BuildMode] = mapped_column(
        Enum(BuildMode, native_enum=False, length=20), default=BuildMode.broadband
    )
    # [{"item": "电视机", "model": "...", "count": 1}], [{"name", "phone", "role"}]
    equipment: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Object keys of the site's photos (sites/{id}/photos/{name}).
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Reception plan: local download windows such as ["22:00-06:00"]; empty means any time.
    download_windows: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(CleanText, default="", server_default="")
    # The one-time enrolment code is kept only as a hash; it is cleared once used.
    enrolment_code_hash: Mapped[str | None] = mapped_column(CleanString(64), unique=True)
    enrolment_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, onupdate=utcnow)

    org: Mapped[Organisation] = relationship(lazy="joined")
    administrators: Mapped[list["SiteAdministrator"]] = relationship(
        back_populates="site", lazy="selectin", cascade="all, delete-orphan"
    )


class SiteAdministrator(Base):
    """An account that runs a site (站点管理员): it sees and acts for that site only."""

    __tablename__ = "site_administrators"
    __table_args__ = (UniqueConstraint("site_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship(back_populates="administrators")
    user: Mapped[User] = relationship(lazy="joined")


class SiteDevice(Base):
    """An enrolled agent. Its bearer token is stored as a SHA-256 hash; enrolling again revokes
    the site's earlier devices, so a token is rotated by re-enrolment."""

    __tablename__ = "site_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(CleanString(64), unique=True)
    hostname: Mapped[str] = mapped_column(CleanString(200), default="", server_default="")
    agent_version: Mapped[str] = mapped_column(CleanString(40), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    site: Mapped[Site] = relationship(lazy="joined")


class AssignmentTarget(enum.StrEnum):
    """Whom an assignment reaches: one site, every site of an org's subtree, or every site of a
    tier (within the assigning org's subtree)."""

    site = "site"
    org = "org"
    tier = "tier"


class SiteAssignment(Base):
    """Content (a lesson, or a whole course) assigned to sites for download and group study.

    Removing an assignment sets `removed_at`; the next manifest leaves the content out and the
    agent purges it.
    """

    __tablename__ = "site_assignments"
    __table_args__ = (
        CheckConstraint(
            "(lesson_id IS NULL) <> (course_id IS NULL)", name="one_of_lesson_or_course"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[AssignmentTarget] = mapped_column(
        Enum(AssignmentTarget, native_enum=False, length=10)
    )
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    # For target=org the subtree's root; for target=tier the org whose subtree the tier is within.
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    tier: Mapped[str | None] = mapped_column(CleanString(40))
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SiteHolding(Base):
    """What a site's agent last said it holds of one assigned lesson, after a sync: bytes and
    files on its disk against the manifest's, and whether the disk quota made it skip the
    lesson. The whole set is replaced by each report, so a purged lesson leaves it."""

    __tablename__ = "site_holdings"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True
    )
    files_held: Mapped[int] = mapped_column()
    files_total: Mapped[int] = mapped_column()
    bytes_held: Mapped[int] = mapped_column(BigInteger)
    bytes_total: Mapped[int] = mapped_column(BigInteger)
    no_room: Mapped[bool] = mapped_column(default=False)
    manifest_issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
