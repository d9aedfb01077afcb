"""Accounts and roles as admins manage them: reach, creation, deactivation, grants."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.db import utcnow
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.people.models import Role, User, UserSession
from core.people.service import grant_role
from core.people.users import (
    add_user,
    assign_role,
    get_managed_user,
    list_users,
    revoke_role,
    set_user_active,
)
from core.security import verify_password
from tests.factories import Tree, make_user


def _open_session(session: Session, user: User, token: str) -> None:
    session.add(
        UserSession(token_hash=token, user_id=user.id, expires_at=utcnow() + timedelta(days=1))
    )
    session.commit()


def test_org_admin_sees_accounts_with_a_role_in_the_subtree(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    make_user(session, "zhang", Role.member, tree.branch)
    make_user(session, "li", Role.publisher, tree.sibling)
    make_user(session, "wang", Role.member, tree.town)  # above the admin
    make_user(session, "zhao", Role.member, tree.other)
    root = make_user(session, "root", Role.platform_admin, tree.district)

    logins = [u.login for u in list_users(session=session, actor=admin).items]
    assert logins == ["adm", "li", "zhang"]
    assert [u.login for u in list_users(session=session, actor=admin, query="ZH").items] == [
        "zhang"
    ]
    assert list_users(session=session, actor=root).total == 6
    page = list_users(session=session, actor=root, page=2, per_page=4)
    assert [u.login for u in page.items] == ["zhang", "zhao"] and page.pages == 2
    by_org = list_users(session=session, actor=root, org_id=tree.sibling.id)
    assert [u.login for u in by_org.items] == ["li"]
    with pytest.raises(NotFound):
        get_managed_user(session=session, actor=admin, user_id=root.id)


def test_search_matches_literally(session: Session, tree: Tree) -> None:
    root = make_user(session, "root", Role.platform_admin, tree.district)
    make_user(session, "a_b", Role.member, tree.branch)
    make_user(session, "axb", Role.member, tree.branch)
    assert [u.login for u in list_users(session=session, actor=root, query="a_").items] == ["a_b"]
    assert list_users(session=session, actor=root, query="%").total == 0


def test_new_account_with_generated_password(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.town)
    user, password = add_user(
        session=session,
        actor=admin,
        login="lihua",
        role=Role.publisher,
        org_id=tree.branch.id,
        display_name="李华",
        address="10.0.0.9",
    )
    session.commit()
    assert password is not None and len(password) >= 12
    assert verify_password(user.password_hash, password) and user.must_change_password
    assert [(g.role, g.org_id) for g in user.grants] == [(Role.publisher, tree.branch.id)]
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor_login, e.org_id, e.address) for e in entries] == [
        ("user_created", "adm", tree.branch.id, "10.0.0.9"),
        ("role_granted", "adm", tree.branch.id, "10.0.0.9"),
    ]
    assert password not in repr([e.detail for e in entries])


def test_new_account_with_a_given_password_must_change_it(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.town)
    user, password = add_user(
        session=session,
        actor=admin,
        login="wang",
        role=Role.member,
        org_id=tree.branch.id,
        password="given-pass-1",
    )
    assert password is None and user.must_change_password
    assert verify_password(user.password_hash, "given-pass-1")


@pytest.mark.parametrize(
    ("login", "role", "org", "error"),
    [
        ("x1", Role.platform_admin, "branch", PermissionDenied),
        ("x2", Role.member, "other", PermissionDenied),
        ("x3", Role.member, "district", PermissionDenied),
        ("has space", Role.member, "branch", InvalidInput),
        ("l" * 81, Role.member, "branch", InvalidInput),
        ("adm", Role.member, "branch", InvalidInput),  # taken
    ],
)
def test_new_account_refusals(
    session: Session, tree: Tree, login: str, role: Role, org: str, error: type
) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.town)
    with pytest.raises(error):
        add_user(session=session, actor=admin, login=login, role=role, org_id=getattr(tree, org).id)


def test_display_name_longer_than_its_column_is_refused(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.town)
    with pytest.raises(InvalidInput, match="120"):
        add_user(
            session=session,
            actor=admin,
            login="long",
            role=Role.member,
            org_id=tree.branch.id,
            display_name="名" * 121,
        )


def test_deactivation_ends_every_session(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.town)
    target = make_user(session, "mem", Role.member, tree.branch)
    _open_session(session, target, "a" * 64)
    _open_session(session, target, "b" * 64)
    _open_session(session, admin, "c" * 64)

    set_user_active(session=session, actor=admin, user_id=target.id, active=False)
    session.commit()

    ended = {
        s.token_hash[0]: s.revoked_at is not None for s in session.scalars(select(UserSession))
    }
    assert ended == {"a": True, "b": True, "c": False}
    assert not session.get_one(User, target.id).active  # no login finds an inactive account
    entry = session.scalars(select(AuditEntry)).one()
    assert entry.action == "user_deactivated" and entry.detail["sessions_ended"] == 2
    set_user_active(session=session, actor=admin, user_id=target.id, active=True)
    assert session.get_one(User, target.id).active


def test_deactivation_needs_reach_over_every_role(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    both = make_user(session, "both", Role.member, tree.branch)
    grant_role(session=session, user=both, role=Role.publisher, org_id=tree.town.id)
    session.commit()
    with pytest.raises(PermissionDenied):
        set_user_active(session=session, actor=admin, user_id=both.id, active=False)
    with pytest.raises(InvalidInput, match="own"):
        set_user_active(session=session, actor=admin, user_id=admin.id, active=False)


def test_org_admin_cannot_touch_a_platform_admin(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.district)
    root = make_user(session, "root", Role.platform_admin, tree.branch)
    with pytest.raises(PermissionDenied):
        set_user_active(session=session, actor=admin, user_id=root.id, active=False)
    grant = root.grants[0]
    with pytest.raises(PermissionDenied):
        revoke_role(session=session, actor=admin, user_id=root.id, grant_id=grant.id)


def test_the_last_active_platform_admin_stays(session: Session, tree: Tree) -> None:
    first = make_user(session, "first", Role.platform_admin, tree.district)
    second = make_user(session, "second", Role.platform_admin, tree.district)
    grant_role(session=session, user=second, role=Role.member, org_id=tree.branch.id)
    session.commit()
    set_user_active(session=session, actor=first, user_id=second.id, active=False)
    session.commit()
    # Second is inactive: first is now the last one and keeps the role.
    set_user_active(session=session, actor=first, user_id=second.id, active=True)
    platform_grant = next(g for g in second.grants if g.role is Role.platform_admin)
    revoke_role(session=session, actor=first, user_id=second.id, grant_id=platform_grant.id)
    session.commit()
    third = make_user(session, "third", Role.org_admin, tree.district)
    grant_role(session=session, user=third, role=Role.platform_admin, org_id=tree.district.id)
    session.commit()
    set_user_active(session=session, actor=third, user_id=first.id, active=False)
    session.commit()
    with pytest.raises(InvalidInput, match="last active platform admin"):
        revoke_role(
            session=session,
            actor=third,
            user_id=third.id,
            grant_id=next(g.id for g in third.grants if g.role is Role.platform_admin),
        )


def test_grant_and_revoke_within_the_subtree(session: Session, tree: Tree) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.general)
    target = make_user(session, "mem", Role.member, tree.branch)
    grant = assign_role(
        session=session, actor=admin, user_id=target.id, role=Role.publisher, org_id=tree.sibling.id
    )
    again = assign_role(
        session=session, actor=admin, user_id=target.id, role=Role.publisher, org_id=tree.sibling.id
    )
    assert again.id == grant.id
    with pytest.raises(PermissionDenied):
        assign_role(
            session=session, actor=admin, user_id=target.id, role=Role.member, org_id=tree.town.id
        )
    with pytest.raises(PermissionDenied):
        assign_role(
            session=session,
            actor=admin,
            user_id=target.id,
            role=Role.platform_admin,
            org_id=tree.branch.id,
        )
    first = next(g for g in target.grants if g.role is Role.member)
    revoke_role(session=session, actor=admin, user_id=target.id, grant_id=first.id)
    with pytest.raises(InvalidInput, match="only role"):
        revoke_role(session=session, actor=admin, user_id=target.id, grant_id=grant.id)
    session.commit()
    actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["role_granted", "role_revoked"]
