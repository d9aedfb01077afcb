"""Rules for organisations, users, roles and members."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.people.models import Member, Organisation, OrgKind, Role, RoleGrant, User
from core.security import (
    hash_id_number,
    hash_password,
    mask_id_number,
    normalise_id_number,
)

# A child must sit strictly below its parent in this order.
_LEVEL = {kind: level for level, kind in enumerate(OrgKind)}


def get_org(*, session: Session, org_id: int) -> Organisation:
    """The organisation with this id, or NotFound."""
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(N_("Organisation %(id)s not found."), id=org_id)
    return org


def create_org(
    *, session: Session, name: str, kind: OrgKind, parent_id: int | None = None
) -> Organisation:
    """Add an organisation under `parent_id` (or a root); kinds must go down the tree."""
    name = name.strip()
    if not name:
        raise InvalidInput(N_("The organisation needs a name."))
    parent = get_org(session=session, org_id=parent_id) if parent_id is not None else None
    if parent is not None and _LEVEL[kind] <= _LEVEL[parent.kind]:
        raise InvalidInput(
            f"{kind.value} 不能设在 {parent.kind.value} 之下 / "
            f"a {kind.value} cannot sit under a {parent.kind.value}"
        )
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


def create_user(
    *,
    session: Session,
    login: str,
    password: str,
    display_name: str = "",
) -> User:
    """Add a login account with an argon2-hashed password."""
    login = login.strip()
    if not login or len(login) > 80:
        raise InvalidInput(N_("A login has 1 to 80 characters."))
    if len(password) < 8:
        raise InvalidInput(N_("A password needs at least 8 characters."))
    if session.scalar(select(User.id).where(User.login == login)) is not None:
        raise InvalidInput(N_("The login %(login)s is taken."), login=login)
    user = User(login=login, password_hash=hash_password(password), display_name=display_name)
    session.add(user)
    session.flush()
    return user


def grant_role(*, session: Session, user: User, role: Role, org_id: int) -> RoleGrant:
    """Give `user` the `role` on an organisation (and so on its subtree)."""
    org = get_org(session=session, org_id=org_id)
    for grant in user.grants:
        if grant.role is role and grant.org_id == org.id:
            return grant
    grant = RoleGrant(user=user, org=org, role=role)
    session.add(grant)
    session.flush()
    return grant


def add_member(
    *, session: Session, org_id: int, name: str, id_number: str, hash_key: str
) -> Member:
    """Register a party member; the ID number is stored only as a keyed hash and a mask."""
    get_org(session=session, org_id=org_id)
    name = name.strip()
    if not name:
        raise InvalidInput(N_("The name is required."))
    number = normalise_id_number(id_number)
    digest = hash_id_number(number, key=hash_key)
    if session.scalar(select(Member.id).where(Member.id_number_hash == digest)) is not None:
        raise InvalidInput(N_("A member with this ID number is already registered."))
    member = Member(
        org_id=org_id, name=name, id_number_hash=digest, id_number_masked=mask_id_number(number)
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
