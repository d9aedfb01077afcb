"""Who may act where: a role granted on an organisation is valid for that organisation's subtree.

Administration follows the same rule: an org admin manages the organisations, accounts and
members of the subtrees they administer; a platform admin manages everything. Each `can_*`
question has a matching `managed_*` WHERE clause, so a list shows exactly what may be managed.
"""

from collections.abc import Iterable

from sqlalchemy import ColumnElement, false, or_, select, true

from core.people.models import Member, Organisation, Role, RoleGrant, User

MANAGING_ROLES = frozenset({Role.platform_admin, Role.org_admin})
PUBLISHING_ROLES = frozenset({Role.platform_admin, Role.org_admin, Role.publisher})


def is_platform_admin(user: User | None) -> bool:
    """Whether the user administers the whole platform (an inactive account holds no role)."""
    return (
        user is not None and user.active and any(g.role is Role.platform_admin for g in user.grants)
    )


def is_admin(user: User | None) -> bool:
    """Whether the user administers anything: the platform or at least one subtree."""
    return user is not None and user.active and any(g.role in MANAGING_ROLES for g in user.grants)


def holds_role(user: User | None, roles: Iterable[Role], org: Organisation) -> bool:
    """Whether `user` holds one of `roles` on `org` or on one of its ancestors."""
    if user is None or not user.active:
        return False
    if is_platform_admin(user):
        return True
    wanted = frozenset(roles)
    ancestors = set(org.ancestor_ids)
    return any(g.role in wanted and g.org_id in ancestors for g in user.grants)


def can_manage_org(user: User | None, org: Organisation) -> bool:
    """Org admins (and platform admins) manage an organisation's subtree: people, sub-orgs."""
    return holds_role(user, MANAGING_ROLES, org)


def can_publish_in(user: User | None, org: Organisation) -> bool:
    """Publishers and admins publish content owned by organisations in their subtree."""
    return holds_role(user, PUBLISHING_ROLES, org)


def can_grant(user: User | None, role: Role, org: Organisation) -> bool:
    """Admins grant (and revoke) roles on organisations they manage; only a platform admin
    grants the platform admin role."""
    if role is Role.platform_admin:
        return is_platform_admin(user)
    return can_manage_org(user, org)


def can_see_user(user: User | None, account: User) -> bool:
    """An account is within an admin's reach when it holds a role somewhere they manage."""
    return is_platform_admin(user) or any(can_manage_org(user, g.org) for g in account.grants)


def can_manage_user(user: User | None, account: User) -> bool:
    """Deactivating an account ends its roles everywhere, so it takes an admin who manages
    every one of them: an org admin cannot switch off an account that also serves elsewhere."""
    if is_platform_admin(user):
        return True
    return bool(account.grants) and all(can_grant(user, g.role, g.org) for g in account.grants)


def related_paths(user: User) -> list[str]:
    """Paths of the organisations the user belongs to, for "same branch of the tree" checks."""
    return [g.org.path for g in user.grants]


def _admin_paths(user: User) -> list[str]:
    return [g.org.path for g in user.grants if g.role is Role.org_admin]


def managed_orgs(user: User | None) -> ColumnElement[bool]:
    """A WHERE clause on Organisation matching `can_manage_org`."""
    if is_platform_admin(user):
        return true()
    if user is None or not user.active:
        return false()
    return or_(false(), *(Organisation.path.startswith(path) for path in _admin_paths(user)))


def managed_users(user: User | None) -> ColumnElement[bool]:
    """A WHERE clause on User matching `can_see_user`."""
    if is_platform_admin(user):
        return true()
    reachable = (
        select(RoleGrant.user_id)
        .join(Organisation, Organisation.id == RoleGrant.org_id)
        .where(managed_orgs(user))
    )
    return User.id.in_(reachable)


def managed_members(user: User | None) -> ColumnElement[bool]:
    """A WHERE clause on Member: members of organisations the user manages."""
    if is_platform_admin(user):
        return true()
    return Member.org_id.in_(select(Organisation.id).where(managed_orgs(user)))
