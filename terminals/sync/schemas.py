"""Shapes of the sync protocol: enrolment, heartbeats, the upload batch and the body of each
record kind. The agent validates a record with the same schema before it enters the outbox, so a
record the server would refuse is refused where it is made.

Record bodies allow fields beyond those named here (`extra="allow"`): a newer agent may say more,
and the body is stored as sent for the credit rules to read.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(max_length=200)]
Version = Annotated[str, StringConstraints(max_length=40)]


class EnrolRequest(BaseModel):
    """An agent exchanges a site's one-time code for a device token."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(min_length=4, max_length=64, strip_whitespace=True)]
    hostname: Text = ""
    agent_version: Version = ""


class SiteRead(BaseModel):
    """The site an agent acts for."""

    id: int
    code: str
    name: str
    tier: str


class EnrolResponse(BaseModel):
    """The device token (shown once: only its hash is kept) and the key manifests are signed
    with, for the agent to pin."""

    token: str
    device_id: int
    site: SiteRead
    public_key: str = Field(description="raw Ed25519 public key, base64")
    key_id: str


class PublicKeyRead(BaseModel):
    """The manifest signing key, published for anyone to check a manifest with."""

    algorithm: Literal["ed25519"] = "ed25519"
    public_key: str
    key_id: str


class HeartbeatBody(BaseModel):
    """What an agent reports about itself."""

    model_config = ConfigDict(extra="allow")

    powered_on_at: AwareDatetime | None = None
    now_playing: int | None = Field(default=None, ge=1, description="lesson id")
    disk_free_bytes: int | None = Field(default=None, ge=0)
    agent_version: Version = ""
    last_sync_at: AwareDatetime | None = None


class HeartbeatRequest(HeartbeatBody):
    """A heartbeat sent straight to the server, with the agent's clock at sending."""

    sent_at: AwareDatetime | None = None


class HeartbeatResponse(BaseModel):
    """The server's clock, so an agent can tell how far its own is off."""

    received_at: datetime
    server_time: datetime


class HoldingIn(BaseModel):
    """How much of one lesson of the manifest the agent holds on its disk."""

    model_config = ConfigDict(extra="forbid")

    lesson_id: int = Field(ge=1)
    files_held: int = Field(ge=0)
    files_total: int = Field(ge=0)
    bytes_held: int = Field(ge=0)
    bytes_total: int = Field(ge=0)
    no_room: bool = Field(default=False, description="skipped: the disk quota left no room")


class HoldingsReport(BaseModel):
    """Everything the agent holds against the manifest it last accepted, sent after a sync's
    downloads; it replaces the previous report."""

    model_config = ConfigDict(extra="forbid")

    manifest_issued_at: AwareDatetime
    lessons: list[HoldingIn] = Field(max_length=10_000)


class HoldingsAck(BaseModel):
    """How many of the reported lessons the server kept (lessons since deleted are not)."""

    kept: int


class SessionBody(BaseModel):
    """A group session (集中学习) held at the site, started and ended by its administrator."""

    model_config = ConfigDict(extra="allow")

    session_id: uuid.UUID
    event: Literal["started", "ended"]
    at: AwareDatetime
    administrator: Text = ""
    lesson_ids: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list, max_length=200)
    title: Text = ""
    expected: int | None = Field(default=None, ge=0, description="应到: the roster's size")
    present: int | None = Field(default=None, ge=0, description="实到, at the end")


class AttendanceBody(BaseModel):
    """A member checked in to (or out of) a group session: the roll call."""

    model_config = ConfigDict(extra="allow")

    session_id: uuid.UUID
    member_id: int = Field(ge=1)
    method: Literal["list", "qr", "pin"]
    event: Literal["in", "out"] = "in"
    at: AwareDatetime


class IntervalBody(BaseModel):
    """A stretch of a lesson played in a group session: media times and the wall time it began."""

    model_config = ConfigDict(extra="allow")

    session_id: uuid.UUID
    lesson_id: int = Field(ge=1)
    media_start: float = Field(ge=0)
    media_end: float = Field(ge=0)
    started_at: AwareDatetime
    rate: float = Field(default=1.0, gt=0, le=16)
    playback_id: uuid.UUID | None = Field(default=None, description="the player's playback")
    visible: bool = True


class FrameBody(BaseModel):
    """A proof-of-play frame the agent captured from its copy of the lesson at `position`; the
    JPEG travels in the body (`jpeg_base64`), its digest and size beside it."""

    model_config = ConfigDict(extra="allow")

    session_id: uuid.UUID
    lesson_id: int = Field(ge=1)
    position: float = Field(ge=0)
    captured_at: AwareDatetime
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(ge=0)
    name: Text = ""
    mark: Literal["start", "middle", "end"] | None = None
    media_type: Literal["image/jpeg"] = "image/jpeg"
    # The JPEG itself, base64 (terminal serve keeps it small: about 320 px wide, <= 40 KB).
    jpeg_base64: Annotated[str, StringConstraints(max_length=60_000)] | None = None


# Every kind an outbox record may have, with the schema its body must meet.
RECORD_BODIES: dict[str, type[BaseModel]] = {
    "heartbeat": HeartbeatBody,
    "session": SessionBody,
    "attendance": AttendanceBody,
    "interval": IntervalBody,
    "frame": FrameBody,
}
RecordKind = Literal["heartbeat", "session", "attendance", "interval", "frame"]


class RecordIn(BaseModel):
    """One outbox record as uploaded."""

    model_config = ConfigDict(extra="forbid")

    uuid: uuid.UUID
    seq: int = Field(ge=1, le=2**62)
    kind: RecordKind
    occurred_at: AwareDatetime
    body: dict[str, Any]


class BatchIn(BaseModel):
    """A batch of records from one agent, in any order; resending one is always safe."""

    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID = Field(description="the agent installation that numbered the records")
    sent_at: AwareDatetime = Field(description="the agent's clock when it sent the batch")
    records: list[RecordIn] = Field(max_length=10_000)


class BatchAck(BaseModel):
    """What the server stored: the high-water mark is the highest sequence number up to which
    every record of this agent is stored; the agent may forget records up to it."""

    high_water: int
    stored: int
    duplicates: int
    flagged: int
