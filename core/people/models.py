"""Organisations, people and roles: the tables every domain package uses."""

import enum
from datetime import date, datetime

from sqlalchemy import Date, Enum, ForeignKey, Integer, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, CleanString, UTCDateTime, utcnow


class OrgKind(enum.StrEnum):
    """Levels of the party organisation tree, top to bottom."""

    district = "district"  # 区委 / 县委
    committee = "committee"  # 党委
    general_branch = "general_branch"  # 党总支
    branch = "branch"  # 党支部


class Role(enum.StrEnum):
    """Roles granted on an organisation; each is valid for that organisation's whole subtree."""

    platform_admin = "platform_admin"
    org_admin = "org_admin"
    publisher = "publisher"
    member = "member"


class Duty(enum.StrEnum):
    """A member's office (职务), which sets their annual study requirement."""

    member = "member"  # 普通党员
    secretary = "secretary"  # 支部书记
    committee_member = "committee_member"  # 支委委员
    township_cadre = "township_cadre"  # 乡镇干部


class Organisation(Base):
    """A node of the org tree; `path` ("/1/4/9/") makes subtree queries one LIKE."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(CleanString(200))
    kind: Mapped[OrgKind] = mapped_column(Enum(OrgKind, native_enum=False, length=20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    path: Mapped[str] = mapped_column(CleanString(400), default="", index=True)
    # A deactivated organisation keeps its history; nothing new is published or granted there.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this organisation, itself included."""
        return [int(part) for part in self.path.strip("/").split("/") if part]


class User(Base):
    """A login account; the password is stored as an argon2 hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(CleanString(80), unique=True)
    display_name: Mapped[str] = mapped_column(CleanString(120), default="")
    password_hash: Mapped[str] = mapped_column(CleanString(200))
    active: Mapped[bool] = mapped_column(default=True)
    # Generated and reset passwords must be replaced by the user at the next login.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where e-mailed notices go (core/notify); empty: the e-mail channel skips this user. A
    # member's phone number stays on the member record, the one place it is kept.
    email: Mapped[str] = mapped_column(CleanString(254), default="", server_default="")
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    grants: Mapped[list["RoleGrant"]] = relationship(
        back_populates="user", lazy="selectin", cascade="all, delete-orphan"
    )


class RoleGrant(Base):
    """`user` holds `role` on `org` and, through it, on the org's subtree."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "org_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20))

    user: Mapped[User] = relationship(back_populates="grants")
    org: Mapped[Organisation] = relationship(lazy="joined")


class Member(Base):
    """A party member; the ID-card number is kept only keyed-hashed and masked."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(CleanString(120))
    id_number_hash: Mapped[str] = mapped_column(CleanString(64), unique=True)
    id_number_masked: Mapped[str] = mapped_column(CleanString(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    phone: Mapped[str] = mapped_column(CleanString(32), default="", server_default="")
    joined_on: Mapped[date | None] = mapped_column(Date)  # 入党日期
    duty: Mapped[Duty] = mapped_column(
        Enum(Duty, native_enum=False, length=20), default=Duty.member, server_default="member"
    )
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Which check-in code is the member's (core.people.checkin): one more each time it is renewed.
    checkin_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, onupdate=utcnow)

    org: Mapped[Organisation] = relationship(lazy="joined")


class UserSession(Base):
    """A login session held on the server: the cookie carries only its token, so logging out,
    changing the password or deactivating the user ends every copy of the cookie."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(CleanString(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    address: Mapped[str] = mapped_column(CleanString(64), default="")
    user_agent: Mapped[str] = mapped_column(CleanString(200), default="")


class LoginThrottle(Base):
    """Failed logins counted per account or per address (`key`), for delays and lockouts."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(CleanString(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MemberInvitation(Base):
    """A one-time code with which a member activates a login of their own (/activate).

    Only a keyed hash of the code is stored; the code itself is shown once, to the admin who
    issued it. It expires, is spent by its first use, and is revoked when a newer code is issued
    for the same member or too many wrong identity checks are made with it.
    """

    __tablename__ = "member_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(CleanString(64), unique=True)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Wrong identity checks made with this code; at the limit it is revoked.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    member: Mapped[Member] = relationship(lazy="joined")
