"""Shapes of the course library's JSON API.

Text fields are checked by the rules in courseware.fields: a value that breaks one is refused
with InvalidInput (400, a message in the reader's language), the same message the forms and the
upload metadata get; the limit is also stated in the OpenAPI schema.
"""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from core.api import MAX_ID
from courseware.fields import CATEGORY, COURSE_TITLE, DESCRIPTION, LESSON_TITLE
from courseware.models import LessonStatus, Visibility

CourseTitle = Annotated[
    str,
    AfterValidator(COURSE_TITLE.check),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": COURSE_TITLE.limit}),
]
LessonTitle = Annotated[
    str,
    AfterValidator(LESSON_TITLE.check),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": LESSON_TITLE.limit}),
]
Category = Annotated[
    str,
    AfterValidator(CATEGORY.check),
    WithJsonSchema({"type": "string", "maxLength": CATEGORY.limit}),
]
Description = Annotated[
    str,
    AfterValidator(DESCRIPTION.check),
    WithJsonSchema({"type": "string", "maxLength": DESCRIPTION.limit}),
]
OrgId = Annotated[int, Field(ge=1, le=MAX_ID)]
# More lessons than this in one course is not a course any more.
MAX_LESSONS = 1000


class CourseCreate(BaseModel):
    """A new course."""

    title: CourseTitle
    org_id: OrgId
    description: Description = ""
    category: Category = ""
    visibility: Visibility = Visibility.org


class CourseUpdate(BaseModel):
    """Editable fields of a course; those left out stay as they are. `org_id` moves the course
    to another organisation the editor publishes for (its publishing scope)."""

    title: CourseTitle | None = None
    description: Description | None = None
    category: Category | None = None
    visibility: Visibility | None = None
    org_id: OrgId | None = None


class LessonBrief(BaseModel):
    """A lesson as listed within its course."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    title: str
    description: str
    status: LessonStatus
    duration: float | None
    credit_hours: float | None


class CourseRead(BaseModel):
    """A course with the lessons the caller may see."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    category: str
    org_id: int
    visibility: Visibility
    cover: str | None
    created_at: datetime
    lessons: list[LessonBrief]


class LessonUpdate(BaseModel):
    """Editable fields of a lesson; those left out stay as they are."""

    title: LessonTitle | None = None
    description: Description | None = None
    credit_hours: float | None = Field(default=None, ge=0, le=100)


class LessonOrder(BaseModel):
    """Every lesson of the course, by id, in the new order."""

    lesson_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(max_length=MAX_LESSONS)


class PositionUpdate(BaseModel):
    """Where the player is, in seconds from the start."""

    seconds: float = Field(ge=0)
