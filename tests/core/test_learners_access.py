"""Every route of members as learners (core/people/learner_api.py, learner_pages.py, the login
and invitation routes of member_pages.py) and of notices (core/notify/api.py, pages.py), against
every role and org scope.

Callers: anonymous; "member" (an account with the member role and no member record); a
publisher; "adm", org admin of the town; "far", org admin of an unrelated district; "root",
platform admin; and "learner", a member's own login with a notice of its own.
"""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.notify.service import notify
from core.people.models import Role
from core.people.service import add_member
from core.settings import get_settings
from tests.factories import id_number, make_callers, make_tree, make_user, token_for

CALLERS = [None, "member", "pub", "adm", "far", "root", "learner"]
NON_ADMINS = ("member", "pub", "learner")


def _expect(anonymous: int, others: int, **by_caller: int) -> dict[str | None, int]:
    expected: dict[str | None, int] = {who: others for who in CALLERS}
    expected[None] = anonymous
    expected.update(by_caller)
    return expected


def _admin_only(anonymous: int, adm: int, far: int, root: int) -> dict[str | None, int]:
    return _expect(anonymous, 403, adm=adm, far=far, root=root)


@pytest.fixture
def world(session: Session) -> dict[str, int]:
    tree = make_tree(session)
    make_callers(session, tree)
    learner = make_user(session, "learner", Role.member, tree.branch)
    key = get_settings().id_hash_key
    ids: dict[str, int] = {"branch": tree.branch.id, "other": tree.other.id}
    own = add_member(
        session=session, org_id=tree.branch.id, name="学员", id_number=id_number(0), hash_key=key
    )
    own.user_id = learner.id
    names = ("m_login", "m_invite", "m_page_login", "m_page_invite", "m_batch")
    for serial, name in enumerate(names, start=1):
        ids[name] = add_member(
            session=session,
            org_id=tree.branch.id,
            name=name,
            id_number=id_number(serial),
            hash_key=key,
        ).id
    ids["notice"] = notify(session=session, recipients=[learner], category="c", title="t")[0].id
    session.commit()
    return ids


READS: list[tuple[str, dict[str | None, int]]] = [
    ("/api/me", _expect(401, 404, learner=200)),
    ("/me", _expect(303, 404, learner=200)),
    ("/activate", _expect(200, 200)),
    ("/admin/invitations", _admin_only(303, 200, 200, 200)),
    ("/admin/invitations?org_id={branch}", _admin_only(303, 200, 200, 200)),
    ("/api/notices", _expect(401, 200)),
    ("/api/notices?unread=true&page=1&per_page=5", _expect(401, 200)),
    ("/api/notices/unread", _expect(401, 200)),
    ("/api/notices/{notice}", _expect(401, 404, learner=200)),
    ("/notices", _expect(303, 200)),
    ("/notices?unread=1", _expect(303, 200)),
    ("/notices/{notice}", _expect(303, 404, learner=200)),
]


def _writes(ids: dict[str, int]) -> list[tuple[str, str, dict[str | None, int], Any, Any]]:
    bad_code = {
        "code": "AAAA-BBBB-CCCC",
        "id_number": id_number(1),
        "login": "someone",
        "password": "Long-enough-2026",
    }
    form = {**bad_code, "password_again": bad_code["password"]}
    return [
        ("POST", "/api/members/{m_login}/login", _admin_only(401, 201, 404, 201), {}, None),
        ("POST", "/api/members/{m_invite}/invitation", _admin_only(401, 201, 404, 201), None, None),
        ("POST", "/api/orgs/{branch}/invitations", _admin_only(401, 201, 404, 201), None, None),
        ("POST", "/admin/members/{m_page_login}/login", _admin_only(303, 200, 404, 200), None, {}),
        (
            "POST",
            "/admin/members/{m_page_invite}/invitation",
            _admin_only(303, 200, 404, 200),
            None,
            {},
        ),
        (
            "POST",
            "/admin/invitations",
            _admin_only(303, 200, 404, 200),
            None,
            {"org_id": str(ids["branch"])},
        ),
        ("POST", "/api/activate", _expect(400, 400), bad_code, None),
        ("POST", "/activate", _expect(400, 400), None, form),
        ("PUT", "/api/account/email", _expect(401, 200), {"email": "a@example.cn"}, None),
        ("POST", "/me/email", _expect(303, 303), None, {"email": "a@example.cn"}),
        ("POST", "/api/notices/{notice}/read", _expect(401, 404, learner=200), None, None),
        ("POST", "/api/notices/read-all", _expect(401, 200), None, None),
        ("POST", "/notices/{notice}/read", _expect(303, 404, learner=303), None, {}),
        ("POST", "/notices/read-all", _expect(303, 303), None, {}),
    ]


@pytest.mark.parametrize("who", CALLERS)
def test_reads(client: TestClient, world: dict[str, int], who: str | None) -> None:
    token_for(client, who)
    wrong = []
    for route, expected in READS:
        status = client.get(route.format(**world), follow_redirects=False).status_code
        if status != expected[who]:
            wrong.append((route, status, expected[who]))
    assert not wrong, wrong


@pytest.mark.parametrize("who", CALLERS)
def test_writes(client: TestClient, world: dict[str, int], who: str | None) -> None:
    token = token_for(client, who)
    wrong = []
    for method, route, expected, body, form in _writes(world):
        path = route.format(**world)
        if form is not None:
            response = client.request(
                method, path, data={**form, "csrf_token": token}, follow_redirects=False
            )
        else:
            response = client.request(
                method, path, json=body, headers={"X-CSRF-Token": token}, follow_redirects=False
            )
        if response.status_code != expected[who]:
            wrong.append((method, route, response.status_code, expected[who]))
    assert not wrong, wrong


def test_writes_need_the_csrf_token(client: TestClient, world: dict[str, int]) -> None:
    token_for(client, "root")
    assert client.post(f"/api/members/{world['m_login']}/login", json={}).status_code == 403
    assert client.post("/api/notices/read-all").status_code == 403
