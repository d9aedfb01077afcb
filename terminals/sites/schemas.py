"""Shapes of the sites API. Lengths come from the columns (core/people/schemas.column_length);
rules that need the settings or the database (code pattern, tier, coordinates together) are
checked by the services, which give the same messages to the pages and the CLI."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.api import MAX_ID
from terminals.sites import fields
from terminals.sites.models import AssignmentTarget, BuildMode, SiteStatus
from terminals.sites.presence import Presence
from terminals.sites.service import SiteDetails, Transition

RowRef = Annotated[int, Field(ge=1, le=MAX_ID)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=fields.ROW_TEXT_MAX)]


class EquipmentRow(BaseModel):
    """One kind of equipment at the site."""

    model_config = ConfigDict(extra="forbid")
    item: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    model: Line = ""
    count: int = Field(default=1, ge=1, le=999)


class ContactRow(BaseModel):
    """A person to call about the site."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    phone: Annotated[str, StringConstraints(max_length=32, pattern=r"^[0-9+()\- ]*$")] = ""
    role: Line = ""


class SiteFields(BaseModel):
    """What a site record says besides its owner, code and tier."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=fields.NAME_MAX)
    ]
    host_unit: Annotated[str, StringConstraints(max_length=fields.HOST_UNIT_MAX)] = ""
    address: Annotated[str, StringConstraints(max_length=fields.ADDRESS_MAX)] = ""
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    build_mode: BuildMode = BuildMode.broadband
    equipment: list[EquipmentRow] = Field(default_factory=list, max_length=fields.MAX_ROWS)
    contacts: list[ContactRow] = Field(default_factory=list, max_length=fields.MAX_ROWS)
    download_windows: list[Annotated[str, StringConstraints(max_length=20)]] = Field(
        default_factory=list, max_length=fields.MAX_WINDOWS
    )
    notes: Annotated[str, StringConstraints(max_length=fields.NOTES_MAX)] = ""

    def details(self) -> SiteDetails:
        """The checked details the services take."""
        return SiteDetails(
            name=self.name,
            host_unit=self.host_unit,
            address=self.address,
            latitude=self.latitude,
            longitude=self.longitude,
            build_mode=self.build_mode,
            equipment=tuple(row.model_dump() for row in self.equipment),
            contacts=tuple(row.model_dump() for row in self.contacts),
            download_windows=tuple(self.download_windows),
            notes=self.notes,
        )


class SiteCreate(SiteFields):
    """A new site: its owner, administrative code and tier (key or label)."""

    org_id: RowRef
    code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=fields.CODE_MAX)]
    tier: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]


class SiteUpdate(BaseModel):
    """A change to a site's record: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    org_id: RowRef | None = None
    code: Annotated[str, StringConstraints(max_length=fields.CODE_MAX)] | None = None
    tier: Annotated[str, StringConstraints(max_length=40)] | None = None
    name: Annotated[str, StringConstraints(max_length=fields.NAME_MAX)] | None = None
    host_unit: Annotated[str, StringConstraints(max_length=fields.HOST_UNIT_MAX)] | None = None
    address: Annotated[str, StringConstraints(max_length=fields.ADDRESS_MAX)] | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    build_mode: BuildMode | None = None
    equipment: list[EquipmentRow] | None = Field(default=None, max_length=fields.MAX_ROWS)
    contacts: list[ContactRow] | None = Field(default=None, max_length=fields.MAX_ROWS)
    download_windows: list[Annotated[str, StringConstraints(max_length=20)]] | None = Field(
        default=None, max_length=fields.MAX_WINDOWS
    )
    notes: Annotated[str, StringConstraints(max_length=fields.NOTES_MAX)] | None = None


class AdministratorRead(BaseModel):
    """An account that runs the site."""

    user_id: int
    login: str
    display_name: str
    active: bool


class SiteRead(BaseModel):
    """A site as the API shows it."""

    id: int
    code: str
    name: str
    org_id: int
    org_name: str
    tier: str
    tier_label: str
    status: SiteStatus
    host_unit: str
    address: str
    latitude: float | None
    longitude: float | None
    build_mode: BuildMode
    equipment: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    photos: list[str]
    download_windows: list[str]
    notes: str
    administrators: list[AdministratorRead]
    presence: Presence
    last_seen_at: datetime | None
    enrolment_code_expires_at: datetime | None
    transitions: list[Transition]
    created_at: datetime
    updated_at: datetime | None


class EnrolmentCodeRead(BaseModel):
    """A one-time enrolment code, shown in this response only."""

    site_id: int
    enrolment_code: str
    expires_at: datetime


class SiteCreated(BaseModel):
    """A registered site with its first enrolment code (shown once)."""

    site: SiteRead
    enrolment_code: str


class StatusChange(BaseModel):
    """A move along the site's life."""

    model_config = ConfigDict(extra="forbid")
    move: Transition


class AdministratorCreate(BaseModel):
    """Grant an existing account the running of the site, or create one (`create`)."""

    model_config = ConfigDict(extra="forbid")
    login: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    create: bool = False


class AdministratorAdded(BaseModel):
    """The account now running the site; a created account's generated password, once."""

    administrator: AdministratorRead
    password: str | None = None


class DeviceRead(BaseModel):
    """An enrolled agent of the site."""

    id: int
    hostname: str
    agent_version: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    presence: Presence


class RevokedCount(BaseModel):
    """How many devices were revoked."""

    revoked: int


class ContentRef(BaseModel):
    """A lesson or a whole course."""

    model_config = ConfigDict(extra="forbid")
    lesson_id: RowRef | None = None
    course_id: RowRef | None = None


class OrgAssignmentCreate(ContentRef):
    """Content for every site of an org's subtree, or only those of one tier in it."""

    org_id: RowRef
    tier: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None


class AssignmentRead(BaseModel):
    """An assignment and what it assigns."""

    id: int
    target: AssignmentTarget
    site_id: int | None
    org_id: int | None
    org_name: str
    tier: str | None
    lesson_id: int | None
    course_id: int
    title: str
    created_at: datetime
    removable: bool


class AssignedLessonRead(BaseModel):
    """A lesson the site is to hold, the rendition it downloads, and its download state."""

    lesson_id: int
    title: str
    height: int
    assignment_id: int
    download_state: str | None = Field(
        description="complete, partial, waiting or no_room; null until the site's agent reports"
    )
    download_percent: int | None
    download_reported_at: datetime | None


class PhotoAdded(BaseModel):
    """A stored photo's name."""

    name: str
