"""Organisations, users, roles on subtrees, and members with protected ID numbers."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.people.models import Member, OrgKind, Role
from core.people.permissions import can_manage_org, can_publish_in, holds_role, is_platform_admin
from core.people.service import (
    add_member,
    create_org,
    find_member_by_id_number,
    subtree_ids,
)
from tests.factories import make_tree, make_user

ID_NUMBER = "11010519491231002X"


def test_org_tree_paths_and_subtrees(session: Session) -> None:
    tree = make_tree(session)
    assert (
        tree.branch.path
        == f"/{tree.district.id}/{tree.town.id}/{tree.general.id}/{tree.branch.id}/"
    )
    ids = set(subtree_ids(session=session, org=tree.general))
    assert ids == {tree.general.id, tree.branch.id, tree.sibling.id}
    assert tree.other.id not in subtree_ids(session=session, org=tree.district)


def test_org_kinds_must_go_down_the_tree(session: Session) -> None:
    tree = make_tree(session)
    with pytest.raises(InvalidInput):
        create_org(session=session, name="x", kind=OrgKind.committee, parent_id=tree.branch.id)
    with pytest.raises(NotFound):
        create_org(session=session, name="x", kind=OrgKind.branch, parent_id=999999)


def test_roles_hold_on_the_subtree_only(session: Session) -> None:
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    member = make_user(session, "mem", Role.member, tree.branch)
    root = make_user(session, "root", Role.platform_admin, tree.district)

    assert can_publish_in(publisher, tree.branch)
    assert not can_publish_in(publisher, tree.district)
    assert not can_publish_in(publisher, tree.other)
    assert not can_manage_org(publisher, tree.branch)
    assert can_manage_org(admin, tree.sibling)
    assert not can_manage_org(admin, tree.town)
    assert not can_publish_in(member, tree.branch)
    assert holds_role(member, [Role.member], tree.branch)
    assert can_manage_org(root, tree.other)


def test_member_id_number_is_never_stored_in_clear(session: Session) -> None:
    tree = make_tree(session)
    member = add_member(
        session=session, org_id=tree.branch.id, name="王芳", id_number=ID_NUMBER, hash_key="k"
    )
    session.commit()
    stored = session.execute(select(Member.__table__)).one()._asdict()
    assert ID_NUMBER not in repr(stored)
    assert member.id_number_masked == "1101**********002X"
    found = find_member_by_id_number(session=session, id_number=ID_NUMBER.lower(), hash_key="k")
    assert found is not None and found.id == member.id
    with pytest.raises(InvalidInput):
        add_member(
            session=session, org_id=tree.branch.id, name="重复", id_number=ID_NUMBER, hash_key="k"
        )


def test_inactive_users_hold_no_role(session: Session) -> None:
    tree = make_tree(session)
    root = make_user(session, "root", Role.platform_admin, tree.district)
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    for user in (root, admin):
        user.active = False
    assert not is_platform_admin(root)
    assert not can_manage_org(root, tree.other) and not can_publish_in(root, tree.branch)
    assert not can_manage_org(admin, tree.branch)
