"""JSON shapes of a site's evidence: heartbeats and group sessions."""

from datetime import datetime

from pydantic import BaseModel


class HeartbeatRead(BaseModel):
    """One heartbeat of the site's agent."""

    received_at: datetime
    powered_on_at: datetime | None
    now_playing: int | None
    disk_free_bytes: int | None
    agent_version: str


class RollCallRead(BaseModel):
    """A member on a session's roll call."""

    member_id: int
    name: str
    method: str
    checked_in_at: datetime
    checked_out_at: datetime | None
    present_seconds: float
    qualified: bool


class PlayedRead(BaseModel):
    """What the session played of one lesson, from when to when."""

    lesson_id: int
    title: str
    coverage: float
    media: list[list[float]]
    spans: list[list[str]]


class FrameRead(BaseModel):
    """A proof-of-play frame; `url` is set when its picture is stored."""

    id: int
    lesson_id: int | None
    mark: str
    position: float
    captured_at: datetime
    url: str | None


class SessionRead(BaseModel):
    """A group session: 应到 (expected) and 实到 (present), what was played, its frames."""

    uuid: str
    title: str
    administrator: str
    started_at: datetime | None
    ended_at: datetime | None
    complete: bool
    played_seconds: float
    expected: int | None
    present: int
    distrusted: int
    roll_call: list[RollCallRead]
    played: list[PlayedRead]
    frames: list[FrameRead]
