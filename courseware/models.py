"""Courses, their ordered lessons, attachments, and where each user stopped watching."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, CleanString, CleanText, UTCDateTime, utcnow
from core.people.models import Organisation


class Visibility(enum.StrEnum):
    """Who may see a course: everyone, or the owning organisation's part of the tree (分级发布)."""

    public = "public"
    org = "org"


class LessonStatus(enum.StrEnum):
    """A lesson is `processing` until its master playlist is stored; only `ready` ones play."""

    processing = "processing"
    ready = "ready"
    failed = "failed"


class Course(Base):
    """A course owned by an organisation, holding ordered lessons."""

    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(CleanString(200), index=True)
    description: Mapped[str] = mapped_column(CleanText, default="")
    category: Mapped[str] = mapped_column(CleanString(60), default="", index=True)
    cover_key: Mapped[str | None] = mapped_column(CleanString(300))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    visibility: Mapped[Visibility] = mapped_column(
        Enum(Visibility, native_enum=False, length=10), default=Visibility.org
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, onupdate=utcnow)
    # Set when deletion is asked for: the course is gone for everyone at once, and a job then
    # removes its objects from storage and its rows.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    org: Mapped[Organisation] = relationship(lazy="joined")
    # Deleted lessons are gone for everyone at once: the course's list never holds them.
    lessons: Mapped[list["Lesson"]] = relationship(
        back_populates="course",
        primaryjoin="and_(Course.id == Lesson.course_id, Lesson.deleted_at.is_(None))",
        order_by=lambda: [Lesson.position, Lesson.id],
        lazy="selectin",
    )


class Lesson(Base):
    """One video (or audio) lesson; its HLS tree lives under `lessons/{id}/` in object storage."""

    __tablename__ = "lessons"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(CleanString(200))
    description: Mapped[str] = mapped_column(CleanText, default="", server_default="")
    status: Mapped[LessonStatus] = mapped_column(
        Enum(LessonStatus, native_enum=False, length=12), default=LessonStatus.processing
    )
    error: Mapped[str | None] = mapped_column(CleanText)
    duration: Mapped[float | None] = mapped_column()
    credit_hours: Mapped[float | None] = mapped_column()
    credit_hours_set_by_hand: Mapped[bool] = mapped_column(default=False)
    # The ledger key its hours are awarded under, when not its own: a live event's recording
    # earns the event's credit, so its replay and attending live count once in a credit year.
    credit_key: Mapped[str | None] = mapped_column(CleanString(80))
    source_key: Mapped[str] = mapped_column(CleanString(400))
    source_size: Mapped[int] = mapped_column(BigInteger, default=0)
    master_key: Mapped[str | None] = mapped_column(CleanString(400))
    poster_key: Mapped[str | None] = mapped_column(CleanString(400))
    renditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    upload_id: Mapped[str | None] = mapped_column(CleanString(80), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    course: Mapped[Course] = relationship(back_populates="lessons", lazy="joined")
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="lesson", order_by="Attachment.id", lazy="selectin"
    )


class Attachment(Base):
    """A file that goes with a lesson (PDF slides, 课件) for members to download."""

    __tablename__ = "attachments"
    __table_args__ = (UniqueConstraint("lesson_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    name: Mapped[str] = mapped_column(CleanString(200))
    key: Mapped[str] = mapped_column(CleanString(400))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lesson: Mapped[Lesson] = relationship(back_populates="attachments")


class CaptionLanguage(enum.StrEnum):
    """The languages a lesson may have captions in: Chinese, and English beside it."""

    zh_CN = "zh-CN"
    en = "en"

    @property
    def label(self) -> str:
        """The language's name in itself, as a player's captions menu shows it."""
        return {"zh-CN": "中文", "en": "English"}[self.value]


class LessonCaption(Base):
    """A lesson's captions in one language: a WebVTT file stored beside its HLS, at
    `lessons/{id}/hls/captions/{language}.vtt`, so whatever copies the HLS tree copies them too."""

    __tablename__ = "lesson_captions"
    __table_args__ = (UniqueConstraint("lesson_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    # Stored by value ("zh-CN"), the code players and browsers know it by.
    language: Mapped[CaptionLanguage] = mapped_column(
        Enum(
            CaptionLanguage,
            native_enum=False,
            length=10,
            values_callable=lambda kind: [member.value for member in kind],
        )
    )
    label: Mapped[str] = mapped_column(CleanString(40))
    key: Mapped[str] = mapped_column(CleanString(400))
    size: Mapped[int] = mapped_column(default=0)
    cues: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlaybackPosition(Base):
    """Where a user last was in a lesson, so the player resumes there."""

    __tablename__ = "playback_positions"
    __table_args__ = (UniqueConstraint("user_id", "lesson_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    seconds: Mapped[float] = mapped_column(default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Upload(Base):
    """A resumable upload and who started it: only its owner may resume or finish it. The bytes
    sit in the upload directory of the web node that took them until the lesson exists."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(CleanString(64), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
