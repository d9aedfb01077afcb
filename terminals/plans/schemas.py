"""Shapes of study plans in the JSON API."""

from datetime import date, datetime

from pydantic import BaseModel, Field, model_validator

from terminals.plans.models import Audience

TITLE_MAX = 200
DESCRIPTION_MAX = 4000
MAX_ITEMS = 200
MAX_NAMED = 5000


class PlanItemCreate(BaseModel):
    """A required lesson or course; hours default to its own credit hours."""

    lesson_id: int | None = Field(default=None, ge=1)
    course_id: int | None = Field(default=None, ge=1)
    credit_hours: float | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _one_of(self) -> "PlanItemCreate":
        if (self.lesson_id is None) == (self.course_id is None):
            raise ValueError("give lesson_id or course_id")
        return self


class PlanCreate(BaseModel):
    """A new study plan."""

    org_id: int = Field(ge=1)
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    audience: Audience = Audience.subtree
    duty: str = Field(default="", max_length=40)
    deadline: date
    items: list[PlanItemCreate] = Field(min_length=1, max_length=MAX_ITEMS)
    member_ids: list[int] = Field(default_factory=list, max_length=MAX_NAMED)


class PlanItemRead(BaseModel):
    """A required item as the API shows it."""

    id: int
    lesson_id: int | None
    course_id: int | None
    title: str
    credit_hours: float


class PlanRead(BaseModel):
    """A study plan as the API shows it."""

    id: int
    org_id: int
    org_name: str
    title: str
    description: str
    audience: Audience
    duty: str
    deadline: date
    created_at: datetime
    withdrawn_at: datetime | None
    items: list[PlanItemRead]
    member_ids: list[int]
    total_hours: float
