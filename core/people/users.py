"""Administration of accounts and roles: list and search the accounts within an admin's reach,
add them, deactivate and reactivate them, grant and revoke roles; each change is audited."""

import secrets
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from core.audit.service import record
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.i18n import N_
from core.paging import PER_PAGE, Page, paginate
from core.people.accounts import revoke_sessions
from core.people.models import Organisation, Role, RoleGrant, User
from core.people.permissions import can_grant, can_manage_user, can_see_user, managed_users
from core.people.schemas import DISPLAY_NAME_MAX
from core.people.service import (
    PLATFORM_ADMINS_LOCK,
    checked_text,
    create_user,
    exclusive,
    get_managed_org,
    grant_role,
    require_active,
    target_org,
)


def get_managed_user(*, session: Session, actor: User, user_id: int) -> User:
    """An account within the actor's reach; any other is "not found"."""
    user = session.get(User, user_id)
    if user is None or not can_see_user(actor, user):
        raise NotFound(N_("Account %(id)s not found."), id=user_id)
    return user


def _get_changeable_user(*, session: Session, actor: User, user_id: int) -> User:
    """An account the actor may change: within reach, with every role in their subtrees."""
    user = get_managed_user(session=session, actor=actor, user_id=user_id)
    if not can_manage_user(actor, user):
        raise PermissionDenied(
            N_("This account also holds roles outside your organisations: ask an admin above you.")
        )
    return user


def list_users(
    *,
    session: Session,
    actor: User,
    query: str = "",
    org_id: int | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[User]:
    """Accounts within the actor's reach by login, matching `query` in the login or display
    name and, with `org_id`, holding a role in that organisation's subtree."""
    statement: Select[Any] = select(User).where(managed_users(actor))
    if query.strip():
        needle = query.strip().lower()
        statement = statement.where(
            or_(
                func.lower(User.login).contains(needle, autoescape=True),
                func.lower(User.display_name).contains(needle, autoescape=True),
            )
        )
    if org_id is not None:
        org = get_managed_org(session=session, actor=actor, org_id=org_id)
        holders = (
            select(RoleGrant.user_id)
            .join(Organisation, Organisation.id == RoleGrant.org_id)
            .where(Organisation.path.startswith(org.path))
        )
        statement = statement.where(User.id.in_(holders))
    return paginate(session, statement.order_by(User.login), page=page, per_page=per_page)


def _grant_detail(user: User, grant: RoleGrant) -> dict[str, object]:
    """What an audit entry about a role granted or revoked says."""
    return {"login": user.login, "role": grant.role.value, "grant_id": grant.id}


def _audit_org(user: User) -> int | None:
    """The organisation an account's audit entries are filed under: its highest role's."""
    grants = sorted(user.grants, key=lambda g: (len(g.org.path), g.id))
    return grants[0].org_id if grants else None


def add_user(
    *,
    session: Session,
    actor: User,
    login: str,
    role: Role,
    org_id: int,
    display_name: str = "",
    password: str | None = None,
    address: str = "",
) -> tuple[User, str | None]:
    """Add an account with a first role in the actor's subtree; returns it with the generated
    password when none was given. Either way the user must choose their own at first login."""
    org = target_org(session=session, actor=actor, org_id=org_id)
    if not can_grant(actor, role, org):
        raise PermissionDenied(N_("Only platform admins grant the platform admin role."))
    require_active(org)
    chosen = password if password is not None else secrets.token_urlsafe(12)
    user = create_user(session=session, login=login, password=chosen, display_name=display_name)
    user.must_change_password = True
    grant = grant_role(session=session, user=user, role=role, org_id=org.id)
    for action in ("user_created", "role_granted"):
        record(
            session=session,
            action=action,
            actor=actor,
            target_type="user",
            target_id=user.id,
            org_id=org.id,
            address=address,
            detail=_grant_detail(user, grant),
        )
    return user, (chosen if password is None else None)


def _other_active_platform_admins(session: Session, user_id: int) -> int:
    exclusive(session, PLATFORM_ADMINS_LOCK)
    return (
        session.scalar(
            select(func.count(func.distinct(RoleGrant.user_id)))
            .join(User, User.id == RoleGrant.user_id)
            .where(RoleGrant.role == Role.platform_admin, User.active, User.id != user_id)
        )
        or 0
    )


def set_user_active(
    *, session: Session, actor: User, user_id: int, active: bool, address: str = ""
) -> User:
    """Deactivate an account (ending every session it has open) or reactivate it. It takes an
    admin who manages all its roles; nobody switches off themselves or the last platform admin."""
    user = _get_changeable_user(session=session, actor=actor, user_id=user_id)
    if user.active == active:
        return user
    detail: dict[str, object] = {"login": user.login}
    if not active:
        if user.id == actor.id:
            raise InvalidInput(N_("You cannot deactivate your own account."))
        holds_platform = any(g.role is Role.platform_admin for g in user.grants)
        if holds_platform and _other_active_platform_admins(session, user.id) == 0:
            raise InvalidInput(N_("This is the last active platform admin."))
        detail["sessions_ended"] = revoke_sessions(session=session, user_id=user.id)
    user.active = active
    session.flush()
    record(
        session=session,
        action="user_reactivated" if active else "user_deactivated",
        actor=actor,
        target_type="user",
        target_id=user.id,
        org_id=_audit_org(user),
        address=address,
        detail=detail,
    )
    return user


def rename_user(
    *, session: Session, actor: User, user_id: int, display_name: str, address: str = ""
) -> User:
    """Change an account's display name."""
    user = _get_changeable_user(session=session, actor=actor, user_id=user_id)
    user.display_name = checked_text(
        display_name,
        limit=DISPLAY_NAME_MAX,
        missing=None,
        too_long=N_("A display name has at most %(max)s characters."),
    )
    return user


def assign_role(
    *, session: Session, actor: User, user_id: int, role: Role, org_id: int, address: str = ""
) -> RoleGrant:
    """Grant an account within reach a role on an organisation the actor manages."""
    user = get_managed_user(session=session, actor=actor, user_id=user_id)
    org = target_org(session=session, actor=actor, org_id=org_id)
    if not can_grant(actor, role, org):
        raise PermissionDenied(N_("Only platform admins grant the platform admin role."))
    existing = next((g for g in user.grants if g.role is role and g.org_id == org.id), None)
    if existing is not None:
        return existing
    grant = grant_role(session=session, user=user, role=role, org_id=org.id)
    record(
        session=session,
        action="role_granted",
        actor=actor,
        target_type="user",
        target_id=user.id,
        org_id=org.id,
        address=address,
        detail=_grant_detail(user, grant),
    )
    return grant


def revoke_role(
    *, session: Session, actor: User, user_id: int, grant_id: int, address: str = ""
) -> None:
    """Take back a role the actor could have granted. An account keeps at least one role (so
    it stays in some admin's reach: deactivate it to end all access), and the last active
    platform admin keeps theirs."""
    user = get_managed_user(session=session, actor=actor, user_id=user_id)
    grant = next((g for g in user.grants if g.id == grant_id), None)
    if grant is None:
        raise NotFound(N_("Role %(id)s not found."), id=grant_id)
    if not can_grant(actor, grant.role, grant.org):
        raise PermissionDenied(N_("You may not revoke this role."))
    if len(user.grants) == 1:
        raise InvalidInput(
            N_("This is the account's only role: grant another first, or deactivate the account.")
        )
    others = [g for g in user.grants if g is not grant]
    if (
        grant.role is Role.platform_admin
        and user.active
        and not any(g.role is Role.platform_admin for g in others)
        and _other_active_platform_admins(session, user.id) == 0
    ):
        raise InvalidInput(N_("This is the last active platform admin."))
    detail = _grant_detail(user, grant)
    org_id = grant.org_id
    user.grants.remove(grant)
    session.flush()
    record(
        session=session,
        action="role_revoked",
        actor=actor,
        target_type="user",
        target_id=user.id,
        org_id=org_id,
        address=address,
        detail=detail,
    )
