"""Shapes of the credits API: a correction (the transcript and the ranking are the dataclasses
of transcripts.py and rankings.py)."""

from pydantic import BaseModel, ConfigDict, Field

from core.api import MAX_ID

YEAR_MIN, YEAR_MAX = 2000, 2100


class CorrectionIn(BaseModel):
    """A compensating entry: hours to add (negative to take back), why, and optionally the
    entry it corrects (its year is then the correction's) or the year it counts for."""

    model_config = ConfigDict(extra="forbid")

    hours: float = Field(ge=-1000, le=1000, allow_inf_nan=False)
    reason: str = Field(min_length=1, max_length=1000)
    corrects_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    year: int | None = Field(default=None, ge=YEAR_MIN, le=YEAR_MAX)


class EntryRead(BaseModel):
    """A ledger entry as written."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    year: int
    source: str
    category: str
    hours: float
    reason: str
    corrects_id: int | None
