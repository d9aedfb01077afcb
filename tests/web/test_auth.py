"""Logging in and out, sessions held on the server, password changes and resets, through the
assembled application."""

import base64
import json
import statistics
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.people.models import Role, User
from core.security import hash_password, signing_key, verify_password
from core.settings import get_settings
from tests.factories import PASSWORD, Tree, csrf_token, log_in, make_tree, make_user
from web.app import create_app
from web.auth import REFUSAL_DELAY

NEW_PASSWORD = "Another-horse-42"


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "member", Role.member, tree.branch)
    make_user(session, "admin", Role.org_admin, tree.general)
    return tree


def _copy(client: TestClient) -> TestClient:
    """Another browser holding a copy of `client`'s session cookie (stolen or shared)."""
    copy = TestClient(client.app)
    copy.cookies.set("yuanjiao_session", client.cookies["yuanjiao_session"])
    return copy


def _logged_in(client: TestClient) -> bool:
    return client.get("/api/uploads/x").status_code != 401 and "退出" in client.get("/").text


def _post_login(client: TestClient, login: str, password: str) -> httpx.Response:
    return client.post(
        "/login",
        data={"login": login, "password": password, "csrf_token": csrf_token(client)},
        follow_redirects=False,
    )


def test_the_cookie_carries_a_session_token_signed_with_its_own_key(
    client: TestClient, tree: Tree, session: Session
) -> None:
    log_in(client, "member")
    cookie = client.cookies["yuanjiao_session"]
    payload = TimestampSigner(signing_key("session-cookie").hex()).unsign(cookie)
    content = json.loads(base64.b64decode(payload))
    assert set(content) == {"token", "csrf"}
    # a cookie signed with the master secret itself is not accepted
    forged = TimestampSigner(get_settings().secret_key).sign(base64.b64encode(payload))
    other = TestClient(client.app)
    other.cookies.set("yuanjiao_session", forged.decode())
    assert not _logged_in(other)


def test_logout_ends_every_copy_of_the_cookie(client: TestClient, tree: Tree) -> None:
    token = log_in(client, "member")
    copy = _copy(client)
    assert _logged_in(copy)
    client.post("/logout", data={"csrf_token": token})
    assert not _logged_in(client)
    assert not _logged_in(copy)


def test_deactivation_ends_the_session(client: TestClient, tree: Tree, session: Session) -> None:
    log_in(client, "member")
    user = session.scalars(select(User).where(User.login == "member")).one()
    user.active = False
    session.commit()
    assert client.get("/api/uploads/x").status_code == 401


def test_log_out_everywhere(client: TestClient, tree: Tree, session: Session) -> None:
    log_in(client, "member")
    elsewhere = TestClient(client.app)
    log_in(elsewhere, "member")
    response = client.post(
        "/logout/everywhere", data={"csrf_token": csrf_token(client)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert not _logged_in(client) and not _logged_in(elsewhere)
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["login", "login", "logout"]


def test_login_gives_a_fresh_session(client: TestClient, tree: Tree) -> None:
    log_in(client, "member")
    before = _copy(client)
    log_in(client, "admin")  # the same browser, another account
    assert not _logged_in(before)  # the session it replaced has ended
    assert _logged_in(client)


def test_password_change_ends_other_sessions_and_keeps_this_one(
    client: TestClient, tree: Tree, session: Session
) -> None:
    token = log_in(client, "member")
    copy = _copy(client)
    changed = client.post(
        "/api/account/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers={"X-CSRF-Token": token},
    )
    assert changed.status_code == 204, changed.text
    assert not _logged_in(copy)
    assert _logged_in(client)
    session.expire_all()  # the app changed the account in its own session
    user = session.scalars(select(User).where(User.login == "member")).one()
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert user.password_changed_at is not None
    fresh = TestClient(client.app)
    assert _post_login(fresh, "member", PASSWORD).status_code == 401
    assert _post_login(fresh, "member", NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("current", "new", "message"),
    [
        ("wrong-password-1", NEW_PASSWORD, "当前密码不正确"),
        (PASSWORD, "short-1", "密码至少需要 10 个字符"),
        (PASSWORD, "member-is-me-1", "密码不能包含登录名"),
        (PASSWORD, "password123", "这个密码太常见"),
        (PASSWORD, PASSWORD, "新密码必须与当前密码不同"),
    ],
)
def test_password_change_is_checked(
    client: TestClient, tree: Tree, session: Session, current: str, new: str, message: str
) -> None:
    token = log_in(client, "member")
    response = client.post(
        "/api/account/password",
        json={"current_password": current, "new_password": new},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 400 and message in response.json()["detail"]
    user = session.scalars(select(User).where(User.login == "member")).one()
    assert verify_password(user.password_hash, PASSWORD)
    failed = session.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed")).all()
    # a wrong current password counts as a failed login; a weak new one is refused before that
    assert len(failed) == (1 if current != PASSWORD else 0)


def test_password_page_form(client: TestClient, tree: Tree, session: Session) -> None:
    log_in(client, "member")
    page = client.get("/account/password")
    assert page.status_code == 200 and "修改密码" in page.text
    form = {"current_password": PASSWORD, "csrf_token": csrf_token(client), "next": "/"}
    differ = client.post(
        "/account/password",
        data={**form, "new_password": NEW_PASSWORD, "new_password_again": "x" + NEW_PASSWORD},
    )
    assert differ.status_code == 400 and "两次输入的新密码不一致" in differ.text
    done = client.post(
        "/account/password",
        data={**form, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert client.get("/account/password", follow_redirects=False).status_code == 200
    anonymous = TestClient(client.app).get("/account/password", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_must_change_password_allows_nothing_else(
    client: TestClient, tree: Tree, session: Session
) -> None:
    user = session.scalars(select(User).where(User.login == "member")).one()
    user.must_change_password = True
    session.commit()
    response = _post_login(client, "member", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/account/password?next=/"
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/account/password?next=/"
    api = client.get("/api/courses")
    assert api.status_code == 403 and api.json() == {"detail": "请先修改密码，然后才能继续。"}
    english = client.get("/api/courses?lang=en")
    assert english.json() == {"detail": "Change your password before you continue."}
    page = client.get("/account/password?next=/")
    assert "您使用的是临时密码登录" in page.text
    done = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
            "csrf_token": csrf_token(client),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert client.get("/api/courses").status_code == 200
    session.refresh(user)
    assert not user.must_change_password


def test_failed_logins_lock_the_account_and_a_known_device_still_gets_in(
    client: TestClient, tree: Tree, session: Session
) -> None:
    # this browser logged in as the member before: it holds a device cookie for that account
    token = log_in(client, "member")
    client.post("/logout", data={"csrf_token": token})
    attacker = TestClient(client.app)
    for _ in range(4):
        assert _post_login(attacker, "member", "guess-1234").status_code == 401
    locked = _post_login(attacker, "member", "guess-1234")
    assert locked.status_code == 429
    assert "尝试失败次数过多" in locked.text
    began = time.perf_counter()
    refused = _post_login(attacker, "member", PASSWORD)  # even the right password, meanwhile
    assert time.perf_counter() - began >= REFUSAL_DELAY  # answered slowly, to slow guessers down
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert _post_login(client, "member", PASSWORD).status_code == 303
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["login", "logout", *["login_failed"] * 5, "lockout", "login"]


def test_an_unknown_login_takes_as_long_as_a_known_one(
    client: TestClient, tree: Tree, session: Session
) -> None:
    member = session.scalars(select(User).where(User.login == "member")).one()
    member.password_hash = hash_password(PASSWORD)  # at the product's cost, not the tests'
    session.commit()

    def timed(login: str) -> float:
        began = time.perf_counter()
        assert _post_login(client, login, "guess-1234").status_code == 401
        return time.perf_counter() - began

    csrf_token(client)
    known = statistics.median(timed("member") for _ in range(3))
    unknown = statistics.median(timed(f"ghost{n}") for n in range(3))
    assert known > 0.02  # a real argon2 check
    assert 0.4 < unknown / known < 2.5


def test_admin_resets_a_password_within_the_subtree(
    client: TestClient, tree: Tree, session: Session
) -> None:
    member = session.scalars(select(User).where(User.login == "member")).one()
    make_user(session, "outsider", Role.org_admin, tree.other)
    victim = TestClient(client.app)
    log_in(victim, "member")
    outsider = TestClient(client.app)
    token = log_in(outsider, "outsider")
    url = f"/api/users/{member.id}/password-reset"
    assert outsider.post(url, headers={"X-CSRF-Token": token}).status_code == 404
    member_token = log_in(TestClient(client.app), "member")
    assert client.post(url, headers={"X-CSRF-Token": member_token}).status_code == 403
    token = log_in(client, "admin")
    reset = client.post(url, headers={"X-CSRF-Token": token})
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    body = reset.json()
    assert body["login"] == "member" and len(body["password"]) >= 10
    assert not _logged_in(victim)
    session.refresh(member)
    assert member.must_change_password
    first = _post_login(victim, "member", body["password"])
    assert first.headers["location"].startswith("/account/password")
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "password_reset")).one()
    assert entry.target_id == str(member.id) and "password" not in json.dumps(entry.detail)


def test_cookies_are_secure_when_the_site_is_https(
    monkeypatch: pytest.MonkeyPatch, tree: Tree
) -> None:
    monkeypatch.setattr(get_settings(), "base_url", "https://yuanjiao.example.org")
    with TestClient(create_app(), base_url="https://testserver") as secure:
        response = _post_login(secure, "member", PASSWORD)
    cookies = response.headers.get_list("set-cookie")
    assert {c.split("=")[0] for c in cookies} == {"yuanjiao_session", "yuanjiao_device"}
    assert all("; secure" in c.lower() for c in cookies)
    monkeypatch.undo()
    with TestClient(create_app()) as plain:
        cookies = _post_login(plain, "member", PASSWORD).headers.get_list("set-cookie")
    assert not any("; secure" in c.lower() for c in cookies)
