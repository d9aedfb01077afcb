"""Accounts: login throttles and lockouts, server-side sessions, password changes and resets."""

import hashlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.db import get_engine, new_session, utcnow
from core.errors import InvalidInput, NotFound, TemporaryError
from core.people.accounts import (
    LoginAttempt,
    LoginCheck,
    ThrottlePolicy,
    account_key,
    address_key,
    change_password,
    check_login,
    check_unlocked,
    device_nonce,
    end_session,
    find_session_user,
    finish_login,
    issue_device_token,
    prune_throttles,
    reset_password,
    revoke_sessions,
    set_password,
    start_session,
)
from core.people.models import LoginThrottle, Role, User, UserSession
from core.people.permissions import can_manage_user
from core.security import verify_password
from tests.factories import PASSWORD, Tree, make_tree, make_user

POLICY = ThrottlePolicy(
    account_failures=3,
    address_failures=5,
    lockout=timedelta(seconds=60),
    lockout_max=timedelta(seconds=300),
    window=timedelta(hours=1),
)


def test_lockouts_double_up_to_the_maximum() -> None:
    assert [POLICY.lockout_for(n, 3) for n in (1, 2)] == [None, None]
    assert [POLICY.lockout_for(n, 3).total_seconds() for n in (3, 4, 5, 6, 50)] == [  # type: ignore[union-attr]
        60,
        120,
        240,
        300,
        300,
    ]


def test_throttle_keys() -> None:
    assert account_key("  WangFang ") == account_key("wangfang") == "account:wangfang"
    assert address_key("203.0.113.9") == "address:203.0.113.9"
    # one IPv6 subscriber holds a whole /64: it counts as one address
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:203.0.113.9") == "address:203.0.113.9"
    assert address_key("testclient") == "address:testclient"


def test_device_tokens_name_one_login_and_cannot_be_forged() -> None:
    token = issue_device_token("WangFang")
    nonce = device_nonce(token, "wangfang")
    assert nonce is not None and device_nonce(issue_device_token("wangfang", nonce), "wangfang")
    assert device_nonce(token, "lihua") is None
    assert device_nonce(token[:-2] + "xx", "wangfang") is None
    assert device_nonce("", "wangfang") is None and device_nonce(None, "wangfang") is None


# --- logging in -------------------------------------------------------------------------------


def _attempt(login: str, address: str = "203.0.113.9", device: str | None = None) -> LoginAttempt:
    return LoginAttempt(login=login, address=address, user_agent="pytest", device=device)


def _fail(session: Session, attempt: LoginAttempt) -> LoginCheck:
    """One wrong password, as the login route does it: check, (no match), finish, commit."""
    check = check_login(session=session, attempt=attempt)
    if check.locked_until is None:
        finish_login(session=session, attempt=attempt, check=check, verified=False, policy=POLICY)
    session.commit()
    return check


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "member", Role.member, tree.branch)
    return tree


def test_login_starts_a_session_whose_token_is_stored_hashed(session: Session, tree: Tree) -> None:
    attempt = _attempt("member")
    check = check_login(session=session, attempt=attempt)
    assert check.password_hash is not None and verify_password(check.password_hash, PASSWORD)
    outcome = finish_login(session=session, attempt=attempt, check=check, verified=True)
    session.commit()
    assert outcome.user is not None and outcome.token is not None
    stored = session.scalars(select(UserSession.token_hash)).one()
    assert stored == hashlib.sha256(outcome.token.encode()).hexdigest()
    assert outcome.user.last_login_at is not None
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.actor_id, entry.address) == (
        "login",
        outcome.user.id,
        "203.0.113.9",
    )
    assert entry.org_id == tree.branch.id


def test_failures_lock_the_account_and_log_every_step(session: Session, tree: Tree) -> None:
    for _ in range(3):
        assert _fail(session, _attempt("member")).locked_until is None
    # the right password does not help while the account is locked
    locked = check_login(session=session, attempt=_attempt("member", address="198.51.100.1"))
    assert locked.locked_until is not None and locked.password_hash is None
    assert 50 <= (locked.locked_until - utcnow()).total_seconds() <= 60
    assert _actions(session) == ["login_failed"] * 3 + ["lockout"]
    lockout = session.scalars(select(AuditEntry).where(AuditEntry.action == "lockout")).one()
    assert lockout.detail["key"] == "account" and lockout.actor_login == "member"
    # each further failure after the lock doubles it
    session.execute(update(LoginThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))
    _fail(session, _attempt("member"))
    row = session.get(LoginThrottle, "account:member")
    assert row is not None and row.failures == 4 and row.locked_until is not None
    assert 110 <= (row.locked_until - utcnow()).total_seconds() <= 120
    with pytest.raises(TemporaryError):
        check_unlocked(session=session, login="member")


def test_an_unknown_login_is_throttled_like_a_known_one(session: Session, tree: Tree) -> None:
    for _ in range(3):
        check = _fail(session, _attempt("ghost"))
        assert check.user_id is None and check.password_hash is None
    assert check_login(session=session, attempt=_attempt("GHOST")).locked_until is not None
    failed = session.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed")).all()
    assert {(e.actor_id, e.actor_login, e.detail["reason"]) for e in failed} == {
        (None, "ghost", "unknown_login")
    }


def test_an_address_has_a_larger_budget_across_accounts(session: Session, tree: Tree) -> None:
    for number in range(5):
        _fail(session, _attempt(f"guess{number}"))
    assert check_login(session=session, attempt=_attempt("member")).locked_until is not None
    elsewhere = check_login(session=session, attempt=_attempt("member", address="198.51.100.7"))
    assert elsewhere.locked_until is None and elsewhere.password_hash is not None


def test_a_known_device_is_not_locked_out_by_strangers(session: Session, tree: Tree) -> None:
    for number in range(3):
        _fail(session, _attempt("member", address=f"198.51.100.{number}"))
    assert check_login(session=session, attempt=_attempt("member")).locked_until is not None
    own = _attempt("member", device="nonce-of-the-members-phone")
    check = check_login(session=session, attempt=own)
    assert check.locked_until is None
    outcome = finish_login(session=session, attempt=own, check=check, verified=True)
    session.commit()
    assert outcome.token is not None
    assert session.get(LoginThrottle, "account:member") is None  # cleared by the success
    # guesses with a stolen device cookie lock that device, not the account
    for _ in range(3):
        _fail(session, own)
    assert check_login(session=session, attempt=own).locked_until is not None
    assert check_login(session=session, attempt=_attempt("member")).locked_until is None


def test_old_failures_are_forgotten_and_pruned(session: Session, tree: Tree) -> None:
    for _ in range(2):
        _fail(session, _attempt("member"))
    session.execute(update(LoginThrottle).values(last_failure_at=utcnow() - timedelta(hours=2)))
    _fail(session, _attempt("member"))
    row = session.get(LoginThrottle, "account:member")
    assert row is not None and row.failures == 1 and row.locked_until is None
    session.execute(update(LoginThrottle).values(last_failure_at=utcnow() - timedelta(hours=2)))
    assert prune_throttles(session=session, policy=POLICY, now=utcnow()) == 2
    assert session.scalars(select(LoginThrottle)).all() == []


def test_concurrent_failures_are_all_counted(tree: Tree) -> None:
    def fail_once() -> None:
        with new_session() as own:
            attempt = _attempt("member", address="192.0.2.1")
            check = LoginCheck(user_id=None, password_hash=None, locked_until=None)
            policy = ThrottlePolicy(100, 100, POLICY.lockout, POLICY.lockout_max, POLICY.window)
            finish_login(session=own, attempt=attempt, check=check, verified=False, policy=policy)
            own.commit()

    threads = [threading.Thread(target=fail_once) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with new_session() as session:
        assert session.get(LoginThrottle, "account:member").failures == 8  # type: ignore[union-attr]


def test_inactive_users_and_changed_passwords_do_not_log_in(session: Session, tree: Tree) -> None:
    attempt = _attempt("member")
    check = check_login(session=session, attempt=attempt)
    user = session.scalars(select(User).where(User.login == "member")).one()
    user.password_hash = "changed meanwhile"
    outcome = finish_login(session=session, attempt=attempt, check=check, verified=True)
    assert outcome.token is None
    user.password_hash, user.active = check.password_hash or "", False
    outcome = finish_login(session=session, attempt=attempt, check=check, verified=True)
    assert outcome.token is None
    reasons = session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "login_failed"))
    assert [detail["reason"] for detail in reasons] == ["wrong_password", "inactive"]


# --- sessions ---------------------------------------------------------------------------------


def _member(session: Session) -> User:
    return session.scalars(select(User).where(User.login == "member")).one()


def test_sessions_end_on_logout_expiry_revocation_and_deactivation(
    session: Session, tree: Tree
) -> None:
    user = _member(session)
    tokens = [start_session(session=session, user=user, address="", user_agent="") for _ in "ab"]
    session.commit()
    found = find_session_user(session=session, token=tokens[0])
    assert found is not None and found.id == user.id and found.grants[0].org.id == tree.branch.id
    assert find_session_user(session=session, token="forged") is None
    assert end_session(session=session, token=tokens[0], address="192.0.2.1") == user
    assert find_session_user(session=session, token=tokens[0]) is None
    assert find_session_user(session=session, token=tokens[1]) is not None
    user.active = False
    assert find_session_user(session=session, token=tokens[1]) is None
    user.active = True
    session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert find_session_user(session=session, token=tokens[1]) is None
    session.execute(update(UserSession).values(expires_at=utcnow() + timedelta(days=1)))
    assert find_session_user(session=session, token=tokens[1]) is not None
    assert revoke_sessions(session=session, user_id=user.id) == 1
    assert find_session_user(session=session, token=tokens[1]) is None
    assert _actions(session) == ["logout"]


def test_a_session_is_looked_up_in_one_query_and_touched_rarely(
    session: Session, tree: Tree
) -> None:
    token = start_session(session=session, user=_member(session), address="", user_agent="")
    session.commit()
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        with new_session() as fresh:
            user = find_session_user(session=fresh, token=token)
            assert user is not None and user.grants
            fresh.commit()
        assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
        session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=10)))
        session.commit()
        statements.clear()
        with new_session() as fresh:
            find_session_user(session=fresh, token=token)
            fresh.commit()
        assert len(statements) == 2 and statements[1].lstrip().upper().startswith("UPDATE")
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    session.expire_all()
    seen = session.scalars(select(UserSession.last_seen_at)).one()
    assert utcnow() - seen < timedelta(minutes=1)


def test_a_new_login_replaces_the_session_the_browser_held(session: Session, tree: Tree) -> None:
    old = start_session(session=session, user=_member(session), address="", user_agent="")
    attempt = _attempt("member")
    check = check_login(session=session, attempt=attempt)
    outcome = finish_login(
        session=session, attempt=attempt, check=check, verified=True, replaced_token=old
    )
    assert outcome.token is not None and outcome.token != old
    assert find_session_user(session=session, token=old) is None
    assert find_session_user(session=session, token=outcome.token) is not None


# --- passwords --------------------------------------------------------------------------------


def test_set_password_with_must_change_ends_sessions(session: Session, tree: Tree) -> None:
    user = _member(session)
    token = start_session(session=session, user=user, address="", user_agent="")
    with pytest.raises(InvalidInput):
        set_password(session=session, user=user, password="member-2024", must_change=True)
    set_password(session=session, user=user, password="Generated-9x", must_change=True)
    assert user.must_change_password and verify_password(user.password_hash, "Generated-9x")
    assert find_session_user(session=session, token=token) is None


def test_change_password_needs_the_hash_the_user_proved(session: Session, tree: Tree) -> None:
    user = _member(session)
    user.must_change_password = True
    other = start_session(session=session, user=user, address="", user_agent="")
    with pytest.raises(InvalidInput):
        change_password(
            session=session,
            user_id=user.id,
            old_hash="stale",
            new_hash="new",
            address="",
            user_agent="",
        )
    token = change_password(
        session=session,
        user_id=user.id,
        old_hash=user.password_hash,
        new_hash="new-hash",
        address="192.0.2.1",
        user_agent="",
    )
    assert user.password_hash == "new-hash" and not user.must_change_password
    assert find_session_user(session=session, token=other) is None
    assert find_session_user(session=session, token=token) is not None
    assert _actions(session) == ["password_changed"]


def test_who_may_reset_whose_password(session: Session, tree: Tree) -> None:
    member = _member(session)
    admin = make_user(session, "admin", Role.org_admin, tree.general)
    town_admin = make_user(session, "town", Role.org_admin, tree.town)
    stranger = make_user(session, "stranger", Role.org_admin, tree.other)
    root = make_user(session, "root", Role.platform_admin, tree.district)
    assert can_manage_user(admin, member) and can_manage_user(root, member)
    assert not can_manage_user(stranger, member)
    assert not can_manage_user(admin, town_admin)  # above the admin's subtree
    assert not can_manage_user(town_admin, root)  # a platform admin is reset by one only
    assert can_manage_user(root, town_admin)
    root.active = False
    assert not can_manage_user(root, member)  # an inactive admin holds no role
    with pytest.raises(NotFound):
        reset_password(
            session=session, actor=stranger, user_id=member.id, password_hash="h", address=""
        )


def test_reset_forces_a_change_ends_sessions_and_lifts_a_lockout(
    session: Session, tree: Tree
) -> None:
    admin = make_user(session, "admin", Role.org_admin, tree.general)
    member = _member(session)
    token = start_session(session=session, user=member, address="", user_agent="")
    for _ in range(3):
        _fail(session, _attempt("member"))
    reset_password(
        session=session, actor=admin, user_id=member.id, password_hash="h", address="192.0.2.9"
    )
    assert member.must_change_password and member.password_hash == "h"
    assert find_session_user(session=session, token=token) is None
    assert check_login(session=session, attempt=_attempt("member")).locked_until is None
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "password_reset")).one()
    assert (entry.actor_id, entry.target_id, entry.org_id) == (
        admin.id,
        str(member.id),
        tree.branch.id,
    )
