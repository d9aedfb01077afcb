"""Rules for organisations, users, roles and members that hold whoever acts.

The set-up functions here (`create_org`, `create_user`, `grant_role`, `add_member`) build
records without asking who acts: for the demo, tests and the very first platform admin; they
check every text against its column and refuse anything new in an inactive organisation.
Changes made by an admin go through `orgs`, `users`, `members` and `roster`, which check the
admin's reach and record each change in the audit log in the same transaction. There, a record
outside the admin's reach is "not found"; an organisation named as the place of a change but
outside their reach is refused.
"""

import re
from datetime import date, timedelta

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.i18n import N_
from core.people.models import Member, Organisation, OrgKind, Role, RoleGrant, User
from core.people.permissions import can_manage_org
from core.people.schemas import (
    DISPLAY_NAME_MAX,
    LOGIN_MAX,
    LOGIN_PATTERN,
    MEMBER_NAME_MAX,
    ORG_NAME_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    PHONE_MAX,
    PHONE_PATTERN,
)
from core.security import (
    hash_id_number,
    hash_password,
    mask_id_number,
    normalise_id_number,
)

# A child must sit strictly below its parent in this order.
_LEVEL = {kind: level for level, kind in enumerate(OrgKind)}
# Keys of PostgreSQL advisory locks (see `exclusive`).
TREE_LOCK = 610_001
PLATFORM_ADMINS_LOCK = 610_002
# The first party congress: no one joined earlier.
EARLIEST_JOINING = date(1921, 7, 1)


def exclusive(session: Session, key: int) -> None:
    """Make the rest of this transaction the only one changing what `key` guards: a
    transaction-level advisory lock on PostgreSQL; SQLite has one writer at a time, so taking
    the write lock now does it. Reads after this call see every earlier change."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        session.execute(text("UPDATE organisations SET active = active WHERE 1 = 0"))


def checked_text(value: str, *, limit: int, missing: str | None, too_long: str) -> str:
    """`value` trimmed; InvalidInput with `missing` when empty (if required) or `too_long`."""
    text_value = value.strip()
    if missing is not None and not text_value:
        raise InvalidInput(missing)
    if len(text_value) > limit:
        raise InvalidInput(too_long, max=limit)
    return text_value


# Organisations


def get_org(*, session: Session, org_id: int) -> Organisation:
    """The organisation with this id, or NotFound."""
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(N_("Organisation %(id)s not found."), id=org_id)
    return org


def require_active(org: Organisation) -> None:
    """InvalidInput unless the organisation is active (an inactive one takes nothing new)."""
    if not org.active:
        raise InvalidInput(
            N_("%(name)s is deactivated: nothing new can be added to it."), name=org.name
        )


def check_kind_below(kind: OrgKind, parent: Organisation) -> None:
    """InvalidInput unless `kind` sits lower in the tree than the parent's kind."""
    if _LEVEL[kind] <= _LEVEL[parent.kind]:
        raise InvalidInput(N_("An organisation must be of a lower kind than its parent."))


def check_org_name(name: str) -> str:
    """The organisation name trimmed, or InvalidInput if empty or longer than its column."""
    return checked_text(
        name,
        limit=ORG_NAME_MAX,
        missing=N_("The organisation needs a name."),
        too_long=N_("An organisation name has at most %(max)s characters."),
    )


def create_org(
    *, session: Session, name: str, kind: OrgKind, parent_id: int | None = None
) -> Organisation:
    """Add an organisation under an active `parent_id` (or a root); kinds must go down."""
    name = check_org_name(name)
    exclusive(session, TREE_LOCK)  # the parent's path is read fresh and cannot move meanwhile
    parent = None
    if parent_id is not None:
        parent = session.get(Organisation, parent_id, populate_existing=True)
        if parent is None:
            raise NotFound(N_("Organisation %(id)s not found."), id=parent_id)
        check_kind_below(kind, parent)
        require_active(parent)
    org = Organisation(name=name, kind=kind, parent_id=parent_id)
    session.add(org)
    session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    session.flush()
    return org


def subtree_ids(*, session: Session, org: Organisation) -> list[int]:
    """Ids of `org` and every organisation below it."""
    query = select(Organisation.id).where(Organisation.path.startswith(org.path))
    return list(session.scalars(query))


def get_managed_org(*, session: Session, actor: User, org_id: int) -> Organisation:
    """An organisation the actor manages; any other is "not found"."""
    org = get_org(session=session, org_id=org_id)
    if not can_manage_org(actor, org):
        raise NotFound(N_("Organisation %(id)s not found."), id=org_id)
    return org


def target_org(*, session: Session, actor: User, org_id: int) -> Organisation:
    """An organisation named as the place of a change: the actor must manage it."""
    org = get_org(session=session, org_id=org_id)
    if not can_manage_org(actor, org):
        raise PermissionDenied(N_("You do not administer organisation %(id)s."), id=org_id)
    return org


# Accounts and roles


def check_login(login: str) -> str:
    """The login trimmed, or InvalidInput if empty, too long or with characters it may not have."""
    login = login.strip()
    if not login or len(login) > LOGIN_MAX:
        raise InvalidInput(N_("A login has 1 to 80 characters."))
    if not re.fullmatch(LOGIN_PATTERN, login):
        raise InvalidInput(N_("A login may contain only letters, digits and . _ @ + -"))
    return login


def create_user(
    *,
    session: Session,
    login: str,
    password: str,
    display_name: str = "",
) -> User:
    """Add a login account with an argon2-hashed password."""
    login = check_login(login)
    display_name = checked_text(
        display_name,
        limit=DISPLAY_NAME_MAX,
        missing=None,
        too_long=N_("A display name has at most %(max)s characters."),
    )
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(N_("A password needs at least 8 characters."))
    if len(password) > PASSWORD_MAX:
        raise InvalidInput(N_("A password has at most %(max)s characters."), max=PASSWORD_MAX)
    if session.scalar(select(User.id).where(User.login == login)) is not None:
        raise InvalidInput(N_("The login %(login)s is taken."), login=login)
    user = User(login=login, password_hash=hash_password(password), display_name=display_name)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise InvalidInput(N_("The login %(login)s is taken."), login=login) from exc
    return user


def grant_role(*, session: Session, user: User, role: Role, org_id: int) -> RoleGrant:
    """Give `user` the `role` on an active organisation (and so on its subtree)."""
    org = get_org(session=session, org_id=org_id)
    for grant in user.grants:
        if grant.role is role and grant.org_id == org.id:
            return grant
    require_active(org)
    grant = RoleGrant(user=user, org=org, role=role)
    session.add(grant)
    session.flush()
    return grant


# Members


def check_member_name(name: str) -> str:
    """A member's name trimmed, or InvalidInput if empty or longer than its column."""
    return checked_text(
        name,
        limit=MEMBER_NAME_MAX,
        missing=N_("The name is required."),
        too_long=N_("A name has at most %(max)s characters."),
    )


def check_phone(phone: str) -> str:
    """A phone number trimmed (may be empty), or InvalidInput."""
    phone = checked_text(
        phone,
        limit=PHONE_MAX,
        missing=None,
        too_long=N_("A phone number has at most %(max)s characters."),
    )
    if not re.fullmatch(PHONE_PATTERN, phone):
        raise InvalidInput(N_("A phone number may contain only digits, spaces and + - ( )."))
    return phone


def check_joined_on(joined_on: date | None) -> date | None:
    """The date of joining the party, if any: not before the first congress nor in the future."""
    if joined_on is None:
        return None
    if joined_on < EARLIEST_JOINING:
        raise InvalidInput(N_("The date of joining cannot be before 1 July 1921."))
    if joined_on > utcnow().date() + timedelta(days=1):
        raise InvalidInput(N_("The date of joining cannot be in the future."))
    return joined_on


def add_member(
    *,
    session: Session,
    org_id: int,
    name: str,
    id_number: str,
    hash_key: str,
    phone: str = "",
    joined_on: date | None = None,
) -> Member:
    """Register a party member; the ID number is stored only as a keyed hash and a mask."""
    org = get_org(session=session, org_id=org_id)
    require_active(org)
    name = check_member_name(name)
    phone = check_phone(phone)
    joined_on = check_joined_on(joined_on)
    number = normalise_id_number(id_number)
    digest = hash_id_number(number, key=hash_key)
    if session.scalar(select(Member.id).where(Member.id_number_hash == digest)) is not None:
        raise InvalidInput(N_("A member with this ID number is already registered."))
    member = Member(
        org_id=org_id,
        name=name,
        id_number_hash=digest,
        id_number_masked=mask_id_number(number),
        phone=phone,
        joined_on=joined_on,
    )
    session.add(member)
    try:
        session.flush()
    except IntegrityError as exc:
        raise InvalidInput(N_("A member with this ID number is already registered.")) from exc
    return member


def find_member_by_id_number(*, session: Session, id_number: str, hash_key: str) -> Member | None:
    """Look a member up by ID number without ever storing the number itself."""
    digest = hash_id_number(normalise_id_number(id_number), key=hash_key)
    return session.scalar(select(Member).where(Member.id_number_hash == digest))
