"""Every audit-log route against every role and org scope; no route changes an entry."""

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import api, pages
from core.audit.models import AuditEntry
from core.audit.service import record
from tests.factories import make_callers, make_tree, token_for

CALLERS = [None, "member", "pub", "adm", "far", "root"]


@pytest.fixture
def world(session: Session) -> None:
    tree = make_tree(session)
    callers = make_callers(session, tree)
    adm, far = callers["adm"], callers["far"]
    record(session=session, action="org_renamed", actor=adm, org_id=tree.branch.id, target_id=1)
    record(session=session, action="org_renamed", actor=far, org_id=tree.other.id, target_id=2)
    record(session=session, action="login_failed", actor_login="nobody", address="10.1.1.1")
    session.commit()


ROUTES = {
    "/api/audit": {None: 401, "member": 403, "pub": 403, "adm": 200, "far": 200, "root": 200},
    "/api/audit/export": {
        None: 401,
        "member": 403,
        "pub": 403,
        "adm": 200,
        "far": 200,
        "root": 200,
    },
    "/admin/audit": {None: 303, "member": 403, "pub": 403, "adm": 200, "far": 200, "root": 200},
    "/api/audit?action=org_renamed&since=2020-01-01T00:00:00&until=2999-01-01T00:00:00%2B08:00": {
        None: 401,
        "member": 403,
        "pub": 403,
        "adm": 200,
        "far": 200,
        "root": 200,
    },
    "/admin/audit?actor=adm&action=org_renamed&since=2020-01-01&until=2999-01-01&page=1": {
        None: 303,
        "member": 403,
        "pub": 403,
        "adm": 200,
        "far": 200,
        "root": 200,
    },
}
# What each reader sees, newest first, after the export above (their own action).
SEEN = {
    "adm": ["audit_exported:", "org_renamed:1"],
    "far": ["audit_exported:", "org_renamed:2"],
    "root": ["audit_exported:", "login_failed:", "org_renamed:2", "org_renamed:1"],
}


@pytest.mark.parametrize("who", CALLERS)
def test_routes(client: TestClient, world: None, who: str | None) -> None:
    token_for(client, who)
    wrong = []
    for route, expected in ROUTES.items():
        status = client.get(route, follow_redirects=False).status_code
        if status != expected[who]:
            wrong.append((route, status, expected[who]))
    assert not wrong, wrong
    if who in SEEN:
        items = client.get("/api/audit?action=org_renamed").json()["items"]
        everything = client.get("/api/audit").json()["items"]
        # the reader's own login is in the log too; the entries made above are the point here
        shown = [f"{e['action']}:{e['target_id']}" for e in everything if e["action"] != "login"]
        assert shown == SEEN[who] and all(e["action"] == "org_renamed" for e in items)


def test_bad_filters_are_refused_not_a_crash(client: TestClient, world: None) -> None:
    token_for(client, "root")
    assert client.get("/api/audit?since=yesterday").status_code == 422
    assert client.get("/api/audit?since=0001-01-01T00:00:00%2B08:00").status_code == 400
    assert client.get("/api/audit?page=0").status_code == 422
    page = client.get("/admin/audit?since=9999-12-31&until=nonsense&page=x")
    assert page.status_code == 200 and "日期无法识别" in page.text


def test_export_is_audited(client: TestClient, world: None, session: Session) -> None:
    token_for(client, "adm")
    response = client.get("/api/audit/export?action=org_renamed")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 2 and "org_renamed" in lines[1]
    exported = session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "audit_exported")
    )
    assert exported == 1


def test_no_route_changes_or_removes_an_entry(client: TestClient, world: None) -> None:
    for router in (api.router, pages.router):
        for route in router.routes:
            assert isinstance(route, APIRoute)
            assert route.methods <= {"GET", "HEAD"}, (route.path, route.methods)
    token = token_for(client, "root")
    headers = {"X-CSRF-Token": token}
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/api/audit", "/api/audit/1", "/admin/audit"):
            status = client.request(method, path, headers=headers).status_code
            assert status in (404, 405), (method, path, status)
