"""Shapes of the people API (organisations, accounts, members); text limits are the columns'.

Every limit is read from the column it is stored in, so a text the API accepts always fits,
on SQLite (which would store any length) and PostgreSQL (which would refuse it) alike.
"""

from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import InstrumentedAttribute

from core.api import MAX_ID
from core.people.models import Duty, Member, Organisation, OrgKind, Role, User


def column_length(attribute: InstrumentedAttribute[Any]) -> int:
    """The declared length of a string column."""
    return int(attribute.property.columns[0].type.length)


ORG_NAME_MAX = column_length(Organisation.name)
LOGIN_MAX = column_length(User.login)
DISPLAY_NAME_MAX = column_length(User.display_name)
MEMBER_NAME_MAX = column_length(Member.name)
PHONE_MAX = column_length(Member.phone)
PASSWORD_MIN = 8
# Long enough for any passphrase, short enough that hashing it costs nothing extra.
PASSWORD_MAX = 128
# Letters (any script), digits and . _ @ + -: no spaces, nothing that needs quoting.
LOGIN_PATTERN = r"^[\w.@+-]+$"
PHONE_PATTERN = r"^[0-9+()\- ]*$"
ID_NUMBER_PATTERN = r"^\s*[0-9]{17}[0-9Xx]\s*$"

T = TypeVar("T")
OrgId = Annotated[int, Field(ge=1, le=MAX_ID)]


OrgNameText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ORG_NAME_MAX)
]
LoginText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=LOGIN_MAX, pattern=LOGIN_PATTERN
    ),
]
DisplayNameText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=DISPLAY_NAME_MAX)
]
MemberNameText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MEMBER_NAME_MAX)
]
PhoneText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=PHONE_MAX, pattern=PHONE_PATTERN)
]
IdNumberText = Annotated[str, StringConstraints(pattern=ID_NUMBER_PATTERN, max_length=24)]
PasswordText = Annotated[str, StringConstraints(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]


class Strict(BaseModel):
    """Input shapes refuse fields they do not know (a typo is an error, not a no-op)."""

    model_config = ConfigDict(extra="forbid")


class OrgCreate(Strict):
    """A new organisation under `parent_id` (a top-level one without)."""

    name: OrgNameText
    kind: OrgKind
    parent_id: OrgId | None = None


class OrgUpdate(Strict):
    """Rename an organisation, or deactivate / reactivate it with its subtree."""

    name: OrgNameText | None = None
    active: bool | None = None


class OrgMove(Strict):
    """Move an organisation (with its subtree) under another one, or to the top."""

    parent_id: OrgId | None


class OrgRead(BaseModel):
    """An organisation in the tree, with counts over its whole subtree."""

    id: int
    name: str
    kind: OrgKind
    parent_id: int | None
    path: str
    depth: int
    active: bool
    members: int
    users: int


class UserCreate(Strict):
    """A new account with a first role; without a password one is generated and shown once."""

    login: LoginText
    display_name: DisplayNameText = ""
    password: PasswordText | None = None
    role: Role
    org_id: OrgId


class UserUpdate(Strict):
    """Rename, deactivate or reactivate an account."""

    display_name: DisplayNameText | None = None
    active: bool | None = None


class GrantCreate(Strict):
    """A role to grant on an organisation's subtree."""

    role: Role
    org_id: OrgId


class GrantRead(BaseModel):
    """A role held on an organisation."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    role: Role
    org_id: int
    org_name: str


class UserRead(BaseModel):
    """An account as admins see it (never its password hash)."""

    id: int
    login: str
    display_name: str
    active: bool
    must_change_password: bool
    last_login_at: datetime | None
    created_at: datetime
    grants: list[GrantRead]


class UserCreated(BaseModel):
    """A new account, with its generated password (shown this once) if none was given."""

    user: UserRead
    password: str | None


class MemberCreate(Strict):
    """A new party member."""

    name: MemberNameText
    id_number: IdNumberText
    org_id: OrgId
    phone: PhoneText = ""
    joined_on: date | None = None
    duty: Duty = Duty.member


class MemberEdit(Strict):
    """A member's details as the member form sends them; no ID number keeps the stored one."""

    name: MemberNameText
    org_id: OrgId
    phone: PhoneText = ""
    joined_on: date | None = None
    id_number: IdNumberText | None = None
    duty: Duty = Duty.member


class MemberUpdate(Strict):
    """Fields of a member to change; a new ID number is hashed again, never stored."""

    name: MemberNameText | None = None
    id_number: IdNumberText | None = None
    org_id: OrgId | None = None
    phone: PhoneText | None = None
    joined_on: date | None = None
    active: bool | None = None
    duty: Duty | None = None


class MemberLookup(Strict):
    """An exact ID number to look up (sent in the body: it must not appear in any URL or log)."""

    id_number: IdNumberText


class MemberRead(BaseModel):
    """A member with the ID number masked."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    id_number_masked: str
    org_id: int
    org_name: str
    phone: str
    joined_on: date | None
    duty: Duty = Duty.member
    active: bool
    created_at: datetime
    updated_at: datetime | None


class RowErrorRead(BaseModel):
    """One problem in one row of an imported roster."""

    row: int
    message: str


class ImportReportRead(BaseModel):
    """What an import did (or, when `applied` is false, would do and why it did not)."""

    applied: bool
    added: int
    updated: int
    unchanged: int
    errors: list[RowErrorRead]
    # Codes issued for members without a login (with `invite`), shown in this answer only.
    invitations: list["InvitationRead"] = []


class PageRead(BaseModel, Generic[T]):
    """One page of a longer list."""

    items: list[T]
    total: int
    page: int
    per_page: int


# Members as learners (core/people/logins.py, core/people/invitations.py)


class MemberLoginCreate(BaseModel):
    """A login for a member; without `login` one is suggested (their mobile number, or m<id>)."""

    model_config = ConfigDict(extra="forbid")

    login: Annotated[str, Field(max_length=LOGIN_MAX, pattern=LOGIN_PATTERN)] | None = None


class MemberLoginCreated(BaseModel):
    """A member's new login and its generated password, shown in this answer only."""

    member_id: int
    user: "UserRead"
    password: str


class InvitationRead(BaseModel):
    """An invitation code as handed out, once."""

    member_id: int
    name: str
    org_name: str
    id_number_masked: str
    code: str
    expires_at: datetime


class Activation(BaseModel):
    """What a member types on /activate: the code, their ID number, the login and password
    they choose."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(min_length=1, max_length=40)]
    id_number: Annotated[str, Field(min_length=1, max_length=40)]
    login: Annotated[str, Field(min_length=1, max_length=LOGIN_MAX)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class Activated(BaseModel):
    """The login an activation created (the response also carries its session cookie)."""

    id: int
    login: str


class EmailChange(BaseModel):
    """One's own e-mail address ("" clears it)."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, Field(max_length=254)]


class OwnRecord(BaseModel):
    """A member's own record as they see it: identity, organisation, contact."""

    member: MemberRead
    login: str
    email: str


ImportReportRead.model_rebuild()
