"""Member administration: admins list, find, register, edit and deactivate the members of
their subtrees. ID numbers are looked up by keyed hash and shown only masked."""

from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit.service import record
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.paging import PER_PAGE, Page, paginate
from core.people.logins import sync_login
from core.people.models import Duty, Member, Organisation, User
from core.people.permissions import can_manage_org, managed_members
from core.people.service import (
    add_member,
    check_joined_on,
    check_member_name,
    check_phone,
    find_member_by_id_number,
    get_managed_org,
    require_active,
    target_org,
)
from core.security import hash_id_number, mask_id_number, normalise_id_number


def members_within(*, session: Session, actor: User, org_id: int | None) -> Select[Any]:
    """The members the actor manages, only those in `org_id`'s subtree when it is given."""
    statement: Select[Any] = select(Member).where(managed_members(actor))
    if org_id is not None:
        org = get_managed_org(session=session, actor=actor, org_id=org_id)
        below = select(Organisation.id).where(Organisation.path.startswith(org.path))
        statement = statement.where(Member.org_id.in_(below))
    return statement


def list_members(
    *,
    session: Session,
    actor: User,
    query: str = "",
    org_id: int | None = None,
    active: bool | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[Member]:
    """Members the actor manages, by name: matching `query` in the name, within the subtree of
    `org_id`, and active or not."""
    statement = members_within(session=session, actor=actor, org_id=org_id)
    if query.strip():
        needle = query.strip().lower()
        statement = statement.where(func.lower(Member.name).contains(needle, autoescape=True))
    if active is not None:
        statement = statement.where(Member.active.is_(active))
    statement = statement.order_by(Member.name, Member.id)
    return paginate(session, statement, page=page, per_page=per_page)


def lookup_members(*, session: Session, actor: User, id_number: str, hash_key: str) -> list[Member]:
    """The member with exactly this ID number, if the actor manages them (by its keyed hash)."""
    member = find_member_by_id_number(session=session, id_number=id_number, hash_key=hash_key)
    return [member] if member is not None and can_manage_org(actor, member.org) else []


def get_managed_member(*, session: Session, actor: User, member_id: int) -> Member:
    """A member the actor manages; any other is "not found"."""
    member = session.get(Member, member_id)
    if member is None or not can_manage_org(actor, member.org):
        raise NotFound(N_("Member %(id)s not found."), id=member_id)
    return member


def register_member(
    *,
    session: Session,
    actor: User,
    org_id: int,
    name: str,
    id_number: str,
    hash_key: str,
    phone: str = "",
    joined_on: date | None = None,
    address: str = "",
    duty: Duty = Duty.member,
) -> Member:
    """Register a member in an organisation the actor manages."""
    target_org(session=session, actor=actor, org_id=org_id)
    member = add_member(
        session=session,
        org_id=org_id,
        name=name,
        id_number=id_number,
        hash_key=hash_key,
        phone=phone,
        joined_on=joined_on,
    )
    member.duty = duty
    _record_about(member, session=session, action="member_added", actor=actor, address=address)
    return member


def update_member(
    *,
    session: Session,
    actor: User,
    member_id: int,
    name: str,
    org_id: int,
    phone: str,
    joined_on: date | None,
    hash_key: str,
    id_number: str | None = None,
    address: str = "",
    duty: Duty | None = None,
) -> Member:
    """Change a member's details (a new ID number is hashed and masked again); the audit entry
    names the fields that changed, never their values."""
    member = get_managed_member(session=session, actor=actor, member_id=member_id)
    new = {
        "name": check_member_name(name),
        "phone": check_phone(phone),
        "joined_on": check_joined_on(joined_on),
        "org_id": org_id,
    }
    if duty is not None:
        new["duty"] = duty
    if org_id != member.org_id:
        require_active(target_org(session=session, actor=actor, org_id=org_id))
    changed = [field for field, value in new.items() if getattr(member, field) != value]
    if id_number is not None and id_number.strip():
        number = normalise_id_number(id_number)
        digest = hash_id_number(number, key=hash_key)
        if digest != member.id_number_hash:
            taken = session.scalar(select(Member.id).where(Member.id_number_hash == digest))
            if taken is not None:
                raise InvalidInput(N_("A member with this ID number is already registered."))
            member.id_number_hash, member.id_number_masked = digest, mask_id_number(number)
            changed.append("id_number")
    if not changed:
        return member
    for field in changed:
        if field in new:
            setattr(member, field, new[field])
    try:
        session.flush()
    except IntegrityError as exc:
        raise InvalidInput(N_("A member with this ID number is already registered.")) from exc
    session.refresh(member)
    sync_login(session=session, member=member)
    _record_about(
        member,
        session=session,
        action="member_updated",
        actor=actor,
        address=address,
        fields=changed,
    )
    return member


def set_member_active(
    *, session: Session, actor: User, member_id: int, active: bool, address: str = ""
) -> Member:
    """Deactivate a member (their records stay) or reactivate them in an active organisation."""
    member = get_managed_member(session=session, actor=actor, member_id=member_id)
    if member.active == active:
        return member
    if active:
        require_active(member.org)
    member.active = active
    session.flush()
    sync_login(session=session, member=member)
    action = "member_reactivated" if active else "member_deactivated"
    login = session.get(User, member.user_id) if member.user_id is not None else None
    extra = {"login": login.login} if login is not None else {}
    _record_about(member, session=session, action=action, actor=actor, address=address, **extra)
    return member


def _record_about(
    member: Member, *, session: Session, action: str, actor: User, address: str, **detail: object
) -> None:
    """Audit an action on a member, filed under their organisation; the entry names them."""
    record(
        session=session,
        action=action,
        actor=actor,
        target_type="member",
        target_id=member.id,
        org_id=member.org_id,
        address=address,
        detail={"name": member.name, **detail},
    )
