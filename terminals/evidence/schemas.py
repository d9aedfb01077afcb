"""Shapes of the study API: starting a playback session, and a beat."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.api import MAX_ID

# A beat covers about 10 s of play; a few dozen intervals is more than seeking ever makes.
MAX_INTERVALS = 50
MAX_MEDIA_SECONDS = 24 * 3600.0
Seconds = Annotated[float, Field(ge=0, le=MAX_MEDIA_SECONDS, allow_inf_nan=False)]


class Strict(BaseModel):
    """Unknown fields are refused, so a misspelt one is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class SessionStart(Strict):
    """The lesson to study."""

    lesson_id: int = Field(ge=1, le=MAX_ID)


class SessionRead(BaseModel):
    """A playback session as issued: its id is the beat's credential."""

    id: str
    lesson_id: int
    member_id: int
    duration: float
    beat_seconds: int
    coverage: float


class BeatIn(Strict):
    """A beat: intervals of media time played since the previous beat (seek gaps excluded),
    the client's seconds since the session was issued, position, rate and visibility."""

    session_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    seq: int = Field(ge=1, le=1_000_000)
    clock: Seconds
    position: Seconds
    rate: float = Field(ge=0, le=16, allow_inf_nan=False)
    visible: bool
    event: Literal["tick", "pause", "seek", "ratechange", "ended", "hidden", "close"] = "tick"
    intervals: list[tuple[Seconds, Seconds]] = Field(default_factory=list, max_length=MAX_INTERVALS)

    @model_validator(mode="after")
    def _ordered(self) -> "BeatIn":
        if any(end < start for start, end in self.intervals):
            raise ValueError("an interval ends before it starts")
        return self


class BeatRead(BaseModel):
    """What the server made of a beat."""

    stored: bool
    duplicate: bool
    credited_seconds: float
    coverage: float
    awarded_hours: float | None
