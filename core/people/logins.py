"""Members as learners: a member's own login, linked to the member record.

The member record stays the one source of identity and organisation. A member's login is a
User holding the `member` role on the member's organisation, linked by `Member.user_id`; its
display name is the member's name, its role follows the member to another organisation, and
deactivating the member deactivates the login (ending its sessions). `sync_login` applies the
record to the login after every change to a member (members.py, roster.py).

A login comes three ways: an admin creates it with a generated password (`create_member_login`),
a roster import issues invitation codes, or the member activates an invitation code
(core/people/invitations.py), which ends in `attach_login`.
"""

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.people.accounts import revoke_sessions
from core.people.models import Member, MemberInvitation, Role, User
from core.people.passwords import generate_password
from core.people.permissions import can_manage_org
from core.people.schemas import DISPLAY_NAME_MAX
from core.people.service import check_login, create_user, grant_role, require_active


def member_of(*, session: Session, user: User) -> Member | None:
    """The member record linked to this account, if any."""
    return session.scalar(select(Member).where(Member.user_id == user.id))


def managed_member(*, session: Session, actor: User, member_id: int) -> Member:
    """A member the actor manages; any other is "not found"."""
    member = session.get(Member, member_id)
    if member is None or not can_manage_org(actor, member.org):
        raise NotFound(N_("Member %(id)s not found."), id=member_id)
    return member


def sync_login(*, session: Session, member: Member) -> None:
    """Bring the member's login in line with the record: its name, the organisation of its
    member role, and its state (a deactivated member's login is deactivated, its sessions end;
    a reactivated member's login comes back)."""
    if member.user_id is None:
        return
    user = session.get(User, member.user_id)
    if user is None:
        return
    user.display_name = member.name[:DISPLAY_NAME_MAX]
    grant = next((g for g in user.grants if g.role is Role.member), None)
    if grant is not None and grant.org_id != member.org_id:
        grant.org = member.org
    if user.active != member.active:
        user.active = member.active
        if not member.active:
            revoke_sessions(session=session, user_id=user.id)
    session.flush()


def suggest_login(*, session: Session, member: Member) -> str:
    """A login for a member that is free: their mobile number (what members remember), else
    "m" and their member number."""
    digits = re.sub(r"\D", "", member.phone)
    candidates = [digits] if len(digits) >= 6 else []
    candidates += [f"m{member.id}", *(f"m{member.id}-{n}" for n in range(2, 50))]
    for candidate in candidates:
        if session.scalar(select(User.id).where(User.login == candidate)) is None:
            return candidate
    raise InvalidInput(N_("No free login could be found: give one."))


def _check_can_have_login(member: Member) -> None:
    if member.user_id is not None:
        raise InvalidInput(N_("%(name)s already has a login."), name=member.name)
    if not member.active:
        raise InvalidInput(
            N_("%(name)s is deactivated: activate the member first."), name=member.name
        )
    require_active(member.org)


def revoke_invitations(*, session: Session, member_id: int) -> int:
    """Revoke the member's invitation codes that could still be used; returns how many."""
    now = utcnow()
    live = session.scalars(
        select(MemberInvitation).where(
            MemberInvitation.member_id == member_id,
            MemberInvitation.used_at.is_(None),
            MemberInvitation.revoked_at.is_(None),
        )
    ).all()
    for invitation in live:
        invitation.revoked_at = now
    return len(live)


def _link(*, session: Session, member: Member, user: User) -> None:
    grant_role(session=session, user=user, role=Role.member, org_id=member.org_id)
    member.user_id = user.id
    revoke_invitations(session=session, member_id=member.id)
    session.flush()


def create_member_login(
    *,
    session: Session,
    actor: User,
    member_id: int,
    login: str | None = None,
    address: str = "",
) -> tuple[User, str]:
    """An admin gives a member of their subtree a login with a generated password, which is
    returned to be shown once; the member must choose their own at the first login."""
    member = managed_member(session=session, actor=actor, member_id=member_id)
    _check_can_have_login(member)
    chosen = (
        check_login(login)
        if login and login.strip()
        else suggest_login(session=session, member=member)
    )
    password = generate_password()
    user = create_user(session=session, login=chosen, password=password, display_name=member.name)
    user.must_change_password = True
    _link(session=session, member=member, user=user)
    audit_login_created(
        session=session, member=member, user=user, actor=actor, how="admin", address=address
    )
    return user, password


def attach_login(*, session: Session, member: Member, login: str, password_hash: str) -> User:
    """A login of the member's own choosing (an activated invitation): the password was
    chosen by the member and hashed by the caller, so nothing needs changing at first login."""
    _check_can_have_login(member)
    login = check_login(login)
    if session.scalar(select(User.id).where(User.login == login)) is not None:
        raise InvalidInput(N_("The login %(login)s is taken."), login=login)
    user = User(
        login=login,
        display_name=member.name[:DISPLAY_NAME_MAX],
        password_hash=password_hash,
        password_changed_at=utcnow(),
    )
    session.add(user)
    session.flush()
    _link(session=session, member=member, user=user)
    return user


def audit_login_created(
    *, session: Session, member: Member, user: User, actor: User, how: str, address: str
) -> None:
    """Record that a member got a login, filed under the member's organisation."""
    record(
        session=session,
        action="member_login_created",
        actor=actor,
        target_type="member",
        target_id=member.id,
        org_id=member.org_id,
        address=address,
        detail={"name": member.name, "login": user.login, "how": how},
    )


EMAIL_MAX = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def renew_checkin_code(*, session: Session, user: User, address: str = "") -> Member:
    """Give the member their next check-in code (core.people.checkin): sites take it, and
    stop taking the one before, when they next sync."""
    member = member_of(session=session, user=user)
    if member is None:
        raise NotFound(N_("Your account is not linked to a member record."))
    member.checkin_generation += 1
    session.flush()
    record(
        session=session,
        action="checkin_code_renewed",
        actor=user,
        target_type="member",
        target_id=member.id,
        org_id=member.org_id,
        address=address,
        detail={"generation": member.checkin_generation},
    )
    return member


def set_email(*, session: Session, user: User, email: str, address: str = "") -> User:
    """Set (or with "" clear) one's own e-mail address, where e-mailed notices go."""
    email = email.strip()
    if len(email) > EMAIL_MAX or (email and not _EMAIL.fullmatch(email)):
        raise InvalidInput(N_("This is not an e-mail address."))
    account = session.get(User, user.id)
    if account is None:
        raise NotFound(N_("Account %(id)s not found."), id=user.id)
    if account.email == email:
        return account
    account.email = email
    session.flush()
    member = member_of(session=session, user=account)
    org_id = (
        member.org_id
        if member is not None
        else (account.grants[0].org_id if account.grants else None)
    )
    record(
        session=session,
        action="email_changed",
        actor=account,
        target_type="user",
        target_id=account.id,
        org_id=org_id,
        address=address,
        detail={"login": account.login},
    )
    return account
