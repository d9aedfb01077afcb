"""A study plan (学习计划): what an organisation requires of its members by a deadline."""

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Enum, Float, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, CleanString, CleanText, UTCDateTime, utcnow
from core.people.models import Organisation


class Audience(enum.StrEnum):
    """Whom a plan binds: every member of the org's subtree, those of one duty (e.g. branch
    secretaries) in the subtree, or members named one by one."""

    subtree = "subtree"
    duty = "duty"
    named = "named"


class StudyPlan(Base):
    """Required study set by `org` for members of its subtree, due by `deadline`."""

    __tablename__ = "study_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(CleanString(200))
    description: Mapped[str] = mapped_column(CleanText, default="", server_default="")
    audience: Mapped[Audience] = mapped_column(Enum(Audience, native_enum=False, length=10))
    # The member duty (职务) a duty plan binds; empty for the other audiences.
    duty: Mapped[str] = mapped_column(CleanString(40), default="", server_default="")
    deadline: Mapped[date] = mapped_column(Date, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A withdrawn plan binds no one any more; its history stays.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    org: Mapped[Organisation] = relationship(lazy="joined")
    items: Mapped[list["StudyPlanItem"]] = relationship(
        back_populates="plan",
        order_by="StudyPlanItem.position, StudyPlanItem.id",
        lazy="selectin",
        cascade="all, delete-orphan",
    )
    named: Mapped[list["StudyPlanMember"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan"
    )


class StudyPlanItem(Base):
    """A required lesson, or a whole course, and the credit hours completing it earns."""

    __tablename__ = "study_plan_items"
    __table_args__ = (
        CheckConstraint(
            "(lesson_id IS NULL) <> (course_id IS NULL)", name="one_of_lesson_or_course"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("study_plans.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"), index=True)
    credit_hours: Mapped[float] = mapped_column(Float, default=0.0)

    plan: Mapped[StudyPlan] = relationship(back_populates="items")


class StudyPlanMember(Base):
    """A member a `named` plan binds."""

    __tablename__ = "study_plan_members"
    __table_args__ = (UniqueConstraint("plan_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("study_plans.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)


class StudyPlanReminder(Base):
    """A reminder sent to a member about a plan; unique per kind, so a reminder job that runs
    twice sends nothing twice."""

    __tablename__ = "study_plan_reminders"
    __table_args__ = (UniqueConstraint("plan_id", "member_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("study_plans.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # "due_soon" (settings: days before the deadline) or "overdue".
    kind: Mapped[str] = mapped_column(CleanString(20))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
