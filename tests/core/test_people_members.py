"""Members as admins manage them: reach, search by name or exact ID number, edits, masks."""

import logging
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.people.members import (
    get_managed_member,
    list_members,
    lookup_members,
    register_member,
    set_member_active,
    update_member,
)
from core.people.models import Member, Role
from core.security import hash_id_number
from tests.factories import Tree, id_number, make_user

KEY = "test-key"


def _register(session: Session, actor: object, org_id: int, name: str, serial: int) -> Member:
    return register_member(
        session=session,
        actor=actor,  # type: ignore[arg-type]
        org_id=org_id,
        name=name,
        id_number=id_number(serial),
        hash_key=KEY,
    )


def test_register_list_and_search(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    root = make_user(session, "root", Role.platform_admin, tree.district)
    _register(session, admin, tree.branch.id, "王芳", 1)
    _register(session, admin, tree.sibling.id, "王小明", 2)
    _register(session, admin, tree.branch.id, "张伟", 3)
    _register(session, root, tree.other.id, "王五", 4)
    session.commit()

    names = [m.name for m in list_members(session=session, actor=admin).items]
    assert sorted(names) == ["张伟", "王小明", "王芳"]
    assert {m.name for m in list_members(session=session, actor=admin, query="王").items} == {
        "王芳",
        "王小明",
    }
    in_branch = list_members(session=session, actor=admin, org_id=tree.branch.id)
    assert {m.name for m in in_branch.items} == {"王芳", "张伟"}
    assert list_members(session=session, actor=root).total == 4
    with pytest.raises(NotFound):
        list_members(session=session, actor=admin, org_id=tree.other.id)


def test_lookup_by_exact_id_number_stays_in_reach(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    root = make_user(session, "root", Role.platform_admin, tree.district)
    mine = _register(session, admin, tree.branch.id, "王芳", 1)
    _register(session, root, tree.other.id, "王五", 2)
    session.commit()
    found = lookup_members(session=session, actor=admin, id_number=id_number(1), hash_key=KEY)
    assert [m.id for m in found] == [mine.id]
    assert lookup_members(session=session, actor=admin, id_number=id_number(2), hash_key=KEY) == []
    with pytest.raises(InvalidInput):
        lookup_members(session=session, actor=admin, id_number="12345", hash_key=KEY)


def test_register_refuses_outside_reach_and_bad_fields(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    with pytest.raises(PermissionDenied):
        _register(session, admin, tree.town.id, "王芳", 1)
    bad_fields = [
        {"name": "名" * 121},
        {"phone": "1" * 33},
        {"phone": "call me"},
        {"joined_on": date(1900, 1, 1)},
        {"joined_on": date(2999, 1, 1)},
    ]
    for bad in bad_fields:
        fields = {"name": "王芳", "phone": "", "joined_on": None} | bad
        with pytest.raises(InvalidInput):
            register_member(
                session=session,
                actor=admin,
                org_id=tree.branch.id,
                id_number=id_number(1),
                hash_key=KEY,
                **fields,  # type: ignore[arg-type]
            )


def test_edit_rehashes_a_new_id_number_and_audits_field_names_only(
    session: Session, tree: Tree, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    member = _register(session, admin, tree.branch.id, "王芳", 1)
    session.commit()
    update_member(
        session=session,
        actor=admin,
        member_id=member.id,
        name="王芳芳",
        org_id=tree.sibling.id,
        phone="0571-8888 8888",
        joined_on=date(2001, 7, 1),
        id_number=id_number(5).lower(),
        hash_key=KEY,
    )
    session.commit()
    stored = session.get_one(Member, member.id)
    assert stored.id_number_hash == hash_id_number(id_number(5), key=KEY)
    assert stored.id_number_masked == id_number(5)[:4] + "*" * 10 + id_number(5)[-4:]
    assert (stored.name, stored.org_id, stored.phone) == (
        "王芳芳",
        tree.sibling.id,
        "0571-8888 8888",
    )
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["member_added", "member_updated"]
    assert entries[1].detail["fields"] == ["name", "phone", "joined_on", "org_id", "id_number"]
    everything = repr([e.detail for e in entries]) + caplog.text
    row = repr(session.execute(select(Member.__table__)).all())
    for number in (id_number(1), id_number(5)):
        assert number not in everything and number not in row


def test_edit_refuses_a_taken_id_number_and_unknown_members(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    first = _register(session, admin, tree.branch.id, "王芳", 1)
    _register(session, admin, tree.branch.id, "张伟", 2)
    with pytest.raises(InvalidInput, match="already registered"):
        update_member(
            session=session,
            actor=admin,
            member_id=first.id,
            name="王芳",
            org_id=tree.branch.id,
            phone="",
            joined_on=None,
            id_number=id_number(2),
            hash_key=KEY,
        )
    with pytest.raises(NotFound):
        get_managed_member(session=session, actor=admin, member_id=first.id + 100)


def test_an_unchanged_save_records_nothing(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    member = _register(session, admin, tree.branch.id, "王芳", 1)
    session.commit()
    update_member(
        session=session,
        actor=admin,
        member_id=member.id,
        name="王芳",
        org_id=tree.branch.id,
        phone="",
        joined_on=None,
        id_number=id_number(1),
        hash_key=KEY,
    )
    session.commit()
    assert session.get_one(Member, member.id).updated_at is None
    assert list(session.scalars(select(AuditEntry.action))) == ["member_added"]


def test_deactivate_and_reactivate(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    member = _register(session, admin, tree.branch.id, "王芳", 1)
    set_member_active(session=session, actor=admin, member_id=member.id, active=False)
    assert list_members(session=session, actor=admin, active=True).total == 0
    assert list_members(session=session, actor=admin, active=False).total == 1
    set_member_active(session=session, actor=admin, member_id=member.id, active=True)
    session.commit()
    actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["member_added", "member_deactivated", "member_reactivated"]
