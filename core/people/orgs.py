"""Administration of the org tree: see it with its counts, add, rename, move and deactivate
organisations within the subtrees an admin manages; each change is audited."""

from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import String, func, literal, select, update
from sqlalchemy.orm import Session

from core.audit.service import record
from core.errors import InvalidInput, PermissionDenied
from core.i18n import N_
from core.people.models import Member, Organisation, OrgKind, RoleGrant, User
from core.people.permissions import is_platform_admin, managed_orgs
from core.people.service import (
    TREE_LOCK,
    check_kind_below,
    check_org_name,
    create_org,
    exclusive,
    get_managed_org,
    get_org,
    require_active,
    target_org,
)


@dataclass(frozen=True)
class OrgNode:
    """An organisation in tree order: its depth below the viewer's top, and the active members
    and accounts of its whole subtree."""

    org: Organisation
    depth: int
    members: int
    users: int


def org_tree(*, session: Session, actor: User) -> list[OrgNode]:
    """The organisations the actor manages, depth first, children in creation order."""
    orgs = list(session.scalars(select(Organisation).where(managed_orgs(actor))))
    by_id = {org.id: org for org in orgs}
    children: dict[int | None, list[Organisation]] = defaultdict(list)
    for org in orgs:
        children[org.parent_id if org.parent_id in by_id else None].append(org)
    direct_members = session.execute(
        select(Member.org_id, func.count())
        .join(Organisation, Organisation.id == Member.org_id)
        .where(Member.active, managed_orgs(actor))
        .group_by(Member.org_id)
    ).all()
    grants = session.execute(
        select(RoleGrant.org_id, RoleGrant.user_id)
        .join(User, User.id == RoleGrant.user_id)
        .join(Organisation, Organisation.id == RoleGrant.org_id)
        .where(User.active, managed_orgs(actor))
    ).all()
    members: Counter[int] = Counter()
    users: dict[int, set[int]] = defaultdict(set)
    for org_id, count in direct_members:
        for ancestor in by_id[org_id].ancestor_ids:
            members[ancestor] += count
    for org_id, user_id in grants:
        for ancestor in by_id[org_id].ancestor_ids:
            users[ancestor].add(user_id)
    nodes: list[OrgNode] = []
    stack = [(org, 0) for org in sorted(children[None], key=lambda o: o.id, reverse=True)]
    while stack:
        org, depth = stack.pop()
        nodes.append(OrgNode(org, depth, members[org.id], len(users[org.id])))
        below = sorted(children[org.id], key=lambda o: o.id, reverse=True)
        stack.extend((child, depth + 1) for child in below)
    return nodes


def org_name_paths(*, session: Session) -> dict[int, str]:
    """Every organisation's names from the root down, joined by "/" ("区委/镇党委/第一支部")."""
    rows = session.execute(select(Organisation.id, Organisation.name, Organisation.path)).all()
    names = {org_id: name for org_id, name, _ in rows}
    return {
        org_id: "/".join(names[int(part)] for part in path.strip("/").split("/") if part)
        for org_id, _, path in rows
    }


def _check_top_level(actor: User) -> None:
    """Only platform admins put an organisation at the top of the tree."""
    if not is_platform_admin(actor):
        raise PermissionDenied(N_("Only platform admins add top-level organisations."))


def add_org(
    *,
    session: Session,
    actor: User,
    name: str,
    kind: OrgKind,
    parent_id: int | None,
    address: str = "",
) -> Organisation:
    """Add an organisation in the actor's subtree (top-level ones: platform admins only)."""
    if parent_id is None:
        _check_top_level(actor)
    else:
        target_org(session=session, actor=actor, org_id=parent_id)
    org = create_org(session=session, name=name, kind=kind, parent_id=parent_id)
    record(
        session=session,
        action="org_created",
        actor=actor,
        target_type="organisation",
        target_id=org.id,
        org_id=org.id,
        address=address,
        detail={"name": org.name, "kind": kind.value, "parent_id": parent_id},
    )
    return org


def rename_org(
    *, session: Session, actor: User, org_id: int, name: str, address: str = ""
) -> Organisation:
    """Rename an organisation the actor manages."""
    org = get_managed_org(session=session, actor=actor, org_id=org_id)
    name = check_org_name(name)
    if name != org.name:
        old, org.name = org.name, name
        record(
            session=session,
            action="org_renamed",
            actor=actor,
            target_type="organisation",
            target_id=org.id,
            org_id=org.id,
            address=address,
            detail={"from": old, "to": name},
        )
    return org


def move_org(
    *, session: Session, actor: User, org_id: int, parent_id: int | None, address: str = ""
) -> Organisation:
    """Move an organisation and its whole subtree under another parent (or to the top), in
    one transaction: every path below it is rewritten by one UPDATE."""
    org = get_managed_org(session=session, actor=actor, org_id=org_id)
    exclusive(session, TREE_LOCK)
    session.refresh(org)
    if parent_id == org.parent_id:
        return org
    if parent_id is None:
        _check_top_level(actor)
        prefix = "/"
    else:
        parent = target_org(session=session, actor=actor, org_id=parent_id)
        session.refresh(parent)
        if parent.path.startswith(org.path):
            raise InvalidInput(
                N_("An organisation cannot move under itself or one of its own sub-organisations.")
            )
        check_kind_below(org.kind, parent)
        require_active(parent)
        prefix = parent.path
    old_path, old_parent = org.path, org.parent_id
    new_path = f"{prefix}{org.id}/"
    moved = session.execute(
        update(Organisation)
        .where(Organisation.path.startswith(old_path))
        .values(
            path=literal(new_path, String()).concat(
                func.substr(Organisation.path, len(old_path) + 1)
            )
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        update(Organisation)
        .where(Organisation.id == org.id)
        .values(parent_id=parent_id)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    record(
        session=session,
        action="org_moved",
        actor=actor,
        target_type="organisation",
        target_id=org_id,
        org_id=org_id,
        address=address,
        detail={"from_parent": old_parent, "to_parent": parent_id, "organisations": moved},
    )
    return get_org(session=session, org_id=org_id)


def set_org_active(
    *, session: Session, actor: User, org_id: int, active: bool, address: str = ""
) -> Organisation:
    """Deactivate an organisation with its whole subtree (its history stays; nothing new goes
    there), or reactivate them (under an active parent only)."""
    org = get_managed_org(session=session, actor=actor, org_id=org_id)
    if org.active == active:
        return org
    if active and org.parent_id is not None:
        parent = get_org(session=session, org_id=org.parent_id)
        if not parent.active:
            raise InvalidInput(
                N_("Reactivate the parent organisation %(name)s first."), name=parent.name
            )
    changed = session.execute(
        update(Organisation)
        .where(Organisation.path.startswith(org.path), Organisation.active != active)
        .values(active=active)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.expire_all()
    record(
        session=session,
        action="org_reactivated" if active else "org_deactivated",
        actor=actor,
        target_type="organisation",
        target_id=org_id,
        org_id=org_id,
        address=address,
        detail={"organisations": changed},
    )
    return get_org(session=session, org_id=org_id)
