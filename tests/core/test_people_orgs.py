"""The org tree as admins change it: add, rename, move with its subtree, deactivate, counts."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.people.models import Organisation, OrgKind, Role
from core.people.orgs import add_org, move_org, org_tree, rename_org, set_org_active
from core.people.service import add_member, create_org, grant_role, subtree_ids
from tests.factories import Tree, id_number, make_user


def _paths(session: Session) -> dict[int, str]:
    session.expire_all()
    return dict(session.execute(select(Organisation.id, Organisation.path)).all())


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_tree_is_depth_first_with_subtree_counts(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.town)
    make_user(session, "pub", Role.publisher, tree.branch)
    gone = make_user(session, "gone", Role.member, tree.sibling)
    gone.active = False
    for serial, org in enumerate((tree.branch, tree.branch, tree.sibling, tree.other)):
        add_member(
            session=session,
            org_id=org.id,
            name=f"党员{serial}",
            id_number=id_number(serial),
            hash_key="k",
        )
    session.commit()

    nodes = org_tree(session=session, actor=admin)

    assert [(n.org.name, n.depth) for n in nodes] == [
        ("镇党委", 0),
        ("村党总支", 1),
        ("第一支部", 2),
        ("第二支部", 2),
    ]
    counts = {n.org.name: (n.members, n.users) for n in nodes}
    # adm (town) and pub (branch) are active accounts; "gone" is not counted.
    assert counts == {"镇党委": (3, 2), "村党总支": (3, 1), "第一支部": (2, 1), "第二支部": (1, 0)}


def test_org_admin_adds_only_inside_the_subtree(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    added = add_org(
        session=session,
        actor=admin,
        name=" 第三支部 ",
        kind=OrgKind.branch,
        parent_id=tree.general.id,
    )
    assert added.name == "第三支部" and added.path == f"{tree.general.path}{added.id}/"
    with pytest.raises(PermissionDenied):
        add_org(session=session, actor=admin, name="x", kind=OrgKind.branch, parent_id=tree.town.id)
    with pytest.raises(PermissionDenied):
        add_org(session=session, actor=admin, name="x", kind=OrgKind.district, parent_id=None)
    with pytest.raises(InvalidInput):
        add_org(
            session=session,
            actor=admin,
            name="x",
            kind=OrgKind.committee,
            parent_id=tree.general.id,
        )
    assert _actions(session) == ["org_created"]


def test_names_are_checked_against_the_column(session: Session, tree: Tree) -> None:
    root = make_user(session, "root", Role.platform_admin, tree.district)
    with pytest.raises(InvalidInput, match="200"):
        add_org(session=session, actor=root, name="长" * 201, kind=OrgKind.district, parent_id=None)
    with pytest.raises(InvalidInput):
        rename_org(session=session, actor=root, org_id=tree.town.id, name="   ")
    renamed = rename_org(session=session, actor=root, org_id=tree.town.id, name="长" * 200)
    session.commit()
    assert session.get_one(Organisation, renamed.id).name == "长" * 200
    entry = session.scalars(select(AuditEntry)).one()
    assert entry.action == "org_renamed" and entry.detail == {"from": "镇党委", "to": "长" * 200}


def test_move_rewrites_the_whole_subtree_in_one_transaction(session: Session, tree: Tree) -> None:
    root = make_user(session, "root", Role.platform_admin, tree.district)
    other_town = create_org(
        session=session, name="邻镇党委", kind=OrgKind.committee, parent_id=tree.other.id
    )
    session.commit()

    move_org(session=session, actor=root, org_id=tree.general.id, parent_id=other_town.id)
    session.commit()

    paths = _paths(session)
    base = f"/{tree.other.id}/{other_town.id}/{tree.general.id}/"
    assert paths[tree.general.id] == base
    assert paths[tree.branch.id] == f"{base}{tree.branch.id}/"
    assert paths[tree.sibling.id] == f"{base}{tree.sibling.id}/"
    assert paths[tree.town.id] == f"/{tree.district.id}/{tree.town.id}/"  # untouched
    assert session.get_one(Organisation, tree.general.id).parent_id == other_town.id
    assert set(subtree_ids(session=session, org=session.get_one(Organisation, other_town.id))) == {
        other_town.id,
        tree.general.id,
        tree.branch.id,
        tree.sibling.id,
    }
    entry = session.scalars(select(AuditEntry)).one()
    assert entry.action == "org_moved" and entry.detail == {
        "from_parent": tree.town.id,
        "to_parent": other_town.id,
        "organisations": 3,
    }


def test_move_refuses_cycles_wrong_kinds_and_other_subtrees(session: Session, tree: Tree) -> None:
    root = make_user(session, "root", Role.platform_admin, tree.district)
    admin = make_user(session, "adm", Role.org_admin, tree.town)
    before = _paths(session)
    with pytest.raises(InvalidInput, match="itself"):
        move_org(session=session, actor=root, org_id=tree.town.id, parent_id=tree.town.id)
    with pytest.raises(InvalidInput, match="itself"):
        move_org(session=session, actor=root, org_id=tree.district.id, parent_id=tree.branch.id)
    with pytest.raises(InvalidInput, match="lower kind"):
        move_org(session=session, actor=root, org_id=tree.branch.id, parent_id=tree.sibling.id)
    with pytest.raises(PermissionDenied):  # the new parent is outside the admin's subtree
        move_org(session=session, actor=admin, org_id=tree.branch.id, parent_id=tree.other.id)
    with pytest.raises(PermissionDenied):  # only platform admins make top-level organisations
        move_org(session=session, actor=admin, org_id=tree.general.id, parent_id=None)
    with pytest.raises(NotFound):  # the moved org is outside the admin's subtree
        move_org(session=session, actor=admin, org_id=tree.other.id, parent_id=tree.town.id)
    session.rollback()
    assert _paths(session) == before


def test_move_to_the_top_and_back(session: Session, tree: Tree) -> None:
    root = make_user(session, "root", Role.platform_admin, tree.district)
    move_org(session=session, actor=root, org_id=tree.town.id, parent_id=None)
    session.commit()
    assert _paths(session)[tree.branch.id] == (
        f"/{tree.town.id}/{tree.general.id}/{tree.branch.id}/"
    )
    move_org(session=session, actor=root, org_id=tree.town.id, parent_id=tree.district.id)
    session.commit()
    assert _paths(session)[tree.branch.id] == tree.branch.path


def test_deactivating_takes_the_subtree_and_refuses_new_things(
    session: Session, tree: Tree
) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.town)
    member = make_user(session, "mem", Role.member, tree.town)
    set_org_active(session=session, actor=admin, org_id=tree.general.id, active=False)
    session.commit()
    session.expire_all()
    assert [o.active for o in (tree.town, tree.general, tree.branch, tree.sibling)] == [
        True,
        False,
        False,
        False,
    ]
    with pytest.raises(InvalidInput, match="deactivated"):
        add_org(
            session=session,
            actor=admin,
            name="新支部",
            kind=OrgKind.branch,
            parent_id=tree.general.id,
        )
    with pytest.raises(InvalidInput, match="deactivated"):
        add_member(
            session=session, org_id=tree.branch.id, name="王", id_number=id_number(1), hash_key="k"
        )
    with pytest.raises(InvalidInput, match="deactivated"):
        grant_role(session=session, user=member, role=Role.member, org_id=tree.branch.id)
    session.rollback()
    with pytest.raises(InvalidInput, match="parent"):
        set_org_active(session=session, actor=admin, org_id=tree.branch.id, active=True)
    set_org_active(session=session, actor=admin, org_id=tree.general.id, active=True)
    session.commit()
    session.expire_all()
    assert tree.branch.active and tree.sibling.active
    assert _actions(session) == ["org_deactivated", "org_reactivated"]
