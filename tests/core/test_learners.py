"""Members as learners: logins created by an admin in scope, kept in line with the member record,
and invitation codes (one-time, expiring, identity-checked, throttled)."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.db import utcnow
from core.errors import InvalidInput, NotFound
from core.people.accounts import find_session_user, start_session
from core.people.checkin import checkin_code, checkin_payload
from core.people.errors import AttemptsLocked
from core.people.invitations import (
    check_activation,
    complete_activation,
    hash_code,
    issue_branch_invitations,
    issue_invitation,
    normalise_code,
)
from core.people.logins import create_member_login, member_of
from core.people.members import set_member_active, update_member
from core.people.models import Member, MemberInvitation, Role, User
from core.people.roster import import_roster
from core.security import hash_id_number, hash_password, verify_password
from core.settings import get_settings
from tests.factories import (
    PASSWORD,
    Tree,
    csrf_token,
    id_number,
    log_in,
    make_tree,
    make_user,
    roster_csv,
)

KEY = get_settings().id_hash_key
NEW_PASSWORD = "Study-at-home-2026"


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "adm", Role.org_admin, tree.town)
    make_user(session, "far", Role.org_admin, tree.other)
    make_user(session, "root", Role.platform_admin, tree.district)
    return tree


def _user(session: Session, login: str) -> User:
    return session.scalars(select(User).where(User.login == login)).one()


def _member(session: Session, org_id: int, name: str, serial: int, phone: str = "") -> Member:
    member = Member(
        org_id=org_id,
        name=name,
        id_number_hash=hash_id_number(id_number(serial), key=KEY),
        id_number_masked=id_number(serial)[:4] + "*" * 10 + id_number(serial)[-4:],
        phone=phone,
    )
    session.add(member)
    session.commit()
    return member


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_an_admin_creates_a_login_in_scope_only(session: Session, tree: Tree) -> None:
    member = _member(session, tree.branch.id, "王芳", 1, phone="138 0013 8000")
    far = _user(session, "far")
    with pytest.raises(NotFound):
        create_member_login(session=session, actor=far, member_id=member.id)
    session.rollback()
    adm = _user(session, "adm")
    user, password = create_member_login(session=session, actor=adm, member_id=member.id)
    session.commit()
    assert user.login == "13800138000"  # the mobile number, what members remember
    assert user.display_name == "王芳" and user.must_change_password
    assert verify_password(user.password_hash, password)
    assert [(g.role, g.org_id) for g in user.grants] == [(Role.member, tree.branch.id)]
    assert member_of(session=session, user=user) == member
    assert _actions(session)[-1] == "member_login_created"
    with pytest.raises(InvalidInput, match="already has a login"):
        create_member_login(session=session, actor=adm, member_id=member.id)
    session.rollback()
    other = _member(session, tree.sibling.id, "张伟", 2)
    with pytest.raises(InvalidInput, match="taken"):
        create_member_login(session=session, actor=adm, member_id=other.id, login="13800138000")
    session.rollback()
    second, _ = create_member_login(session=session, actor=adm, member_id=other.id)
    assert second.login == f"m{other.id}"


def test_the_login_follows_the_member_record(session: Session, tree: Tree) -> None:
    member = _member(session, tree.branch.id, "王芳", 1)
    adm = _user(session, "adm")
    user, _ = create_member_login(session=session, actor=adm, member_id=member.id, login="wangfang")
    session.commit()
    update_member(
        session=session,
        actor=adm,
        member_id=member.id,
        name="王芳芳",
        org_id=tree.sibling.id,
        phone="",
        joined_on=None,
        hash_key=KEY,
    )
    session.commit()
    session.refresh(user)
    assert user.display_name == "王芳芳"
    assert [(g.role, g.org_id) for g in user.grants] == [(Role.member, tree.sibling.id)]
    token = start_session(session=session, user=user, address="", user_agent="")
    session.commit()
    set_member_active(session=session, actor=adm, member_id=member.id, active=False)
    session.commit()
    session.refresh(user)
    assert not user.active
    assert find_session_user(session=session, token=token) is None  # its sessions ended
    set_member_active(session=session, actor=adm, member_id=member.id, active=True)
    session.commit()
    session.refresh(user)
    assert user.active
    gone = _member(session, tree.branch.id, "李强", 2)
    set_member_active(session=session, actor=adm, member_id=gone.id, active=False)
    with pytest.raises(InvalidInput, match="deactivated"):
        create_member_login(session=session, actor=adm, member_id=gone.id)


def test_a_roster_import_renames_the_login_too(session: Session, tree: Tree) -> None:
    member = _member(session, tree.branch.id, "王芳", 1)
    adm = _user(session, "adm")
    user, _ = create_member_login(session=session, actor=adm, member_id=member.id)
    session.commit()
    data = roster_csv([["姓名", "身份证号", "组织"], ["王小芳", id_number(1), tree.sibling.id]])
    report = import_roster(session=session, actor=adm, data=data, hash_key=KEY)
    session.commit()
    assert report.updated == 1
    session.refresh(user)
    assert user.display_name == "王小芳" and user.grants[0].org_id == tree.sibling.id


def _activate(
    session: Session, code: str, number: str, login: str = "wangfang", address: str = "10.0.0.1"
) -> User:
    check = check_activation(
        session=session, code=code, id_number=number, hash_key=KEY, address=address
    )
    session.commit()
    if check.error is not None:
        raise check.error
    assert check.invitation_id is not None
    user, _token = complete_activation(
        session=session,
        invitation_id=check.invitation_id,
        login=login,
        password_hash=hash_password(NEW_PASSWORD),
        address=address,
        user_agent="test",
    )
    session.commit()
    return user


def test_a_code_is_hashed_one_time_and_checks_the_id_number(session: Session, tree: Tree) -> None:
    member = _member(session, tree.branch.id, "王芳", 1)
    adm = _user(session, "adm")
    issued = issue_invitation(session=session, actor=adm, member_id=member.id)
    session.commit()
    stored = session.scalars(select(MemberInvitation)).one()
    assert len(issued.code) == 14 and issued.code[4] == "-"
    assert stored.code_hash == hash_code(normalise_code(issued.code))
    assert issued.code.replace("-", "") not in stored.code_hash
    with pytest.raises(InvalidInput, match="does not match"):
        _activate(session, issued.code, id_number(2))
    # Typed in lower case, with spaces and full-width characters, it is the same code.
    typed = " " + issued.code.lower().replace("-", " ") + " "
    user = _activate(session, typed, id_number(1))
    assert not user.must_change_password and user.display_name == "王芳"
    session.refresh(member)
    assert member.user_id == user.id
    with pytest.raises(InvalidInput, match="used already"):
        _activate(session, issued.code, id_number(1), login="again")
    assert session.scalar(select(User.id).where(User.login == "again")) is None
    assert "member_login_created" in _actions(session)


def test_a_new_code_replaces_the_old_and_codes_expire(session: Session, tree: Tree) -> None:
    member = _member(session, tree.branch.id, "王芳", 1)
    adm = _user(session, "adm")
    first = issue_invitation(session=session, actor=adm, member_id=member.id)
    second = issue_invitation(session=session, actor=adm, member_id=member.id)
    session.commit()
    with pytest.raises(InvalidInput, match="not valid"):
        _activate(session, first.code, id_number(1))
    latest = session.scalars(select(MemberInvitation).order_by(MemberInvitation.id.desc())).first()
    assert latest is not None
    latest.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    with pytest.raises(InvalidInput, match="expired"):
        _activate(session, second.code, id_number(1))
    with pytest.raises(NotFound):
        issue_invitation(session=session, actor=_user(session, "far"), member_id=member.id)


def test_wrong_id_numbers_spend_the_code(session: Session, tree: Tree) -> None:
    member = _member(session, tree.branch.id, "王芳", 1)
    issued = issue_invitation(session=session, actor=_user(session, "adm"), member_id=member.id)
    session.commit()
    limit = get_settings().invitation_failures
    for attempt in range(limit):
        with pytest.raises(InvalidInput) as refused:
            _activate(session, issued.code, id_number(10 + attempt), address=f"10.0.1.{attempt}")
    assert "no longer works" in str(refused.value)
    with pytest.raises(InvalidInput, match="not valid"):  # even the right number is too late
        _activate(session, issued.code, id_number(1), address="10.0.2.1")
    assert "invitation_locked" in _actions(session)


def test_an_address_guessing_codes_is_locked(session: Session, tree: Tree) -> None:
    limit = get_settings().activation_address_failures
    for n in range(limit - 1):
        with pytest.raises(InvalidInput):
            _activate(session, f"WRONG-CODE-{n:04d}", id_number(1), address="10.9.9.9")
    with pytest.raises(AttemptsLocked):
        _activate(session, "WRONG-CODE-LAST", id_number(1), address="10.9.9.9")
    with pytest.raises(AttemptsLocked):  # refused before the code is even looked up
        _activate(session, "ANYTHING", id_number(1), address="10.9.9.9")
    member = _member(session, tree.branch.id, "王芳", 1)
    issued = issue_invitation(session=session, actor=_user(session, "adm"), member_id=member.id)
    session.commit()
    assert _activate(session, issued.code, id_number(1), address="10.9.9.10").login == "wangfang"


def test_a_branch_batch_and_a_roster_import_issue_codes(session: Session, tree: Tree) -> None:
    adm = _user(session, "adm")
    has_login = _member(session, tree.branch.id, "甲", 1)
    create_member_login(session=session, actor=adm, member_id=has_login.id)
    _member(session, tree.branch.id, "乙", 2)
    _member(session, tree.sibling.id, "丙", 3)
    _member(session, tree.other.id, "丁", 4)
    session.commit()
    codes = issue_branch_invitations(session=session, actor=adm, org_id=tree.general.id)
    assert sorted(c.name for c in codes) == ["丙", "乙"]
    session.commit()
    with pytest.raises(NotFound):
        issue_branch_invitations(session=session, actor=adm, org_id=tree.other.id)
    session.rollback()
    data = roster_csv(
        [
            ["姓名", "身份证号", "组织"],
            ["甲", id_number(1), tree.branch.id],
            ["戊", id_number(5), tree.branch.id],
        ]
    )
    report = import_roster(session=session, actor=adm, data=data, hash_key=KEY, invite=True)
    session.commit()
    assert report.added == 1 and [c.name for c in report.invitations] == ["戊"]
    assert _actions(session).count("invitations_issued") == 2


def test_activation_page_logs_the_member_in(
    client: TestClient, session: Session, tree: Tree
) -> None:
    member = _member(session, tree.branch.id, "王芳", 1)
    issued = issue_invitation(session=session, actor=_user(session, "adm"), member_id=member.id)
    session.commit()
    page = client.get(f"/activate?code={issued.code}")
    assert page.status_code == 200 and issued.code in page.text
    form = {
        "code": issued.code,
        "id_number": id_number(1),
        "login": "wangfang",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD + "x",
        "csrf_token": csrf_token(client),
    }
    differ = client.post("/activate", data=form)
    assert differ.status_code == 400 and "两次输入的密码不一致" in differ.text
    done = client.post(
        "/activate", data={**form, "password_again": NEW_PASSWORD}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/me?done=activated"
    me = client.get("/me")
    assert me.status_code == 200 and "王芳" in me.text and id_number(1) not in me.text
    assert member.id_number_masked in me.text and 'id="my-studies"' in me.text
    # The roll-call code at sites, and the same as a QR code drawn on the server (SVG).
    code = checkin_code(member.id)
    assert f"{code[:4]} {code[4:]}" in me.text and "<svg" in me.text and "我的签到二维码" in me.text
    assert client.get("/api/me").json()["member"]["name"] == "王芳"


def test_a_member_renews_a_check_in_code_others_have_seen(
    session: Session, tree: Tree, client: TestClient
) -> None:
    member = _member(session, tree.branch.id, "李强", 3)
    user, _password = create_member_login(
        session=session, actor=_user(session, "adm"), member_id=member.id
    )
    user.password_hash, user.must_change_password = hash_password(PASSWORD), False
    session.commit()
    first = checkin_code(member.id)
    assert first == checkin_code(member.id, 0)  # codes given out before renewal stay the same
    token = log_in(client, user.login)
    assert f"{first[:4]} {first[4:]}" in client.get("/me").text

    renewed = client.post("/me/checkin", data={"csrf_token": token}, follow_redirects=False)
    assert renewed.status_code == 303 and renewed.headers["location"].startswith("/me?done=checkin")
    page = client.get(renewed.headers["location"]).text
    session.refresh(member)
    second = checkin_code(member.id, member.checkin_generation)
    assert member.checkin_generation == 1 and second != first
    assert f"{second[:4]} {second[4:]}" in page and f"{first[:4]} {first[4:]}" not in page
    assert "这是您的新签到码" in page
    assert f"YJ1:{member.id}:{second}" == checkin_payload(member.id, 1)
    assert _actions(session)[-1] == "checkin_code_renewed"
    # Without the form's token, nothing changes.
    assert client.post("/me/checkin", data={}).status_code == 403
    session.refresh(member)
    assert member.checkin_generation == 1
