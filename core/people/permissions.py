"""Who may act where: a role granted on an organisation is valid for that organisation's subtree."""

from collections.abc import Iterable

from core.people.models import Organisation, Role, User

MANAGING_ROLES = frozenset({Role.platform_admin, Role.org_admin})
PUBLISHING_ROLES = frozenset({Role.platform_admin, Role.org_admin, Role.publisher})


def is_platform_admin(user: User | None) -> bool:
    """Whether the user administers the whole platform (an inactive user holds no role)."""
    return (
        user is not None and user.active and any(g.role is Role.platform_admin for g in user.grants)
    )


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


def related_paths(user: User) -> list[str]:
    """Paths of the organisations the user belongs to, for "same branch of the tree" checks."""
    return [g.org.path for g in user.grants]
