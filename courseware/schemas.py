"""Shapes of the course library's JSON API."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from core.api import MAX_ID
from courseware.models import LessonStatus, Visibility


class CourseCreate(BaseModel):
    """A new course."""

    title: str = Field(min_length=1, max_length=200)
    org_id: int = Field(ge=1, le=MAX_ID)
    description: str = Field(default="", max_length=5000)
    category: str = Field(default="", max_length=60)
    visibility: Visibility = Visibility.org


class LessonBrief(BaseModel):
    """A lesson as listed within its course."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    status: LessonStatus
    duration: float | None
    credit_hours: float | None


class CourseRead(BaseModel):
    """A course with its lessons."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    category: str
    org_id: int
    visibility: Visibility
    created_at: datetime
    lessons: list[LessonBrief]


class LessonUpdate(BaseModel):
    """Editable fields of a lesson."""

    title: str | None = Field(default=None, max_length=200)
    credit_hours: float | None = Field(default=None, ge=0, le=100)


class PositionUpdate(BaseModel):
    """Where the player is, in seconds from the start."""

    seconds: float = Field(ge=0)
