"""Every route of the people administration (API and pages) against every role and org scope.

Callers: anonymous; a member and a publisher (no admin rights); "adm", org admin of the town
committee; "far", org admin of an unrelated district; "root", platform admin. Each caller gets
a world of its own and logs in once; every write route acts on objects of its own, so the
routes do not depend on each other.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.people.models import OrgKind, Role
from core.people.service import add_member, create_org, grant_role
from core.settings import get_settings
from tests.factories import id_number, make_callers, make_tree, make_user, roster_csv, token_for

CALLERS = [None, "member", "pub", "adm", "far", "root"]
NO = {None: 401, "member": 403, "pub": 403}
PAGE_NO = {None: 303, "member": 403, "pub": 403}


@dataclass
class Case:
    """A request and the status each caller must get."""

    method: str
    path: str
    expected: dict[str | None, int]
    json: Any = None
    form: dict[str, str] | None = None
    file: bytes | None = None


@pytest.fixture
def world(session: Session) -> dict[str, int]:
    tree = make_tree(session)
    second = create_org(
        session=session, name="二村党总支", kind=OrgKind.general_branch, parent_id=tree.town.id
    )
    spare = create_org(session=session, name="备用支部", kind=OrgKind.branch, parent_id=second.id)
    make_callers(session, tree)
    ids: dict[str, int] = {
        "district": tree.district.id,
        "town": tree.town.id,
        "general": tree.general.id,
        "second": second.id,
        "branch": tree.branch.id,
        "sibling": tree.sibling.id,
        "other": tree.other.id,
        "spare": spare.id,
    }
    for name in ("t_show", "t_patch", "t_grant", "t_page_active", "t_page_grant", "t_rename"):
        ids[name] = make_user(session, name, Role.member, tree.sibling).id
    for name in ("t_revoke", "t_page_revoke"):
        user = make_user(session, name, Role.member, tree.sibling)
        ids[f"{name}_grant"] = grant_role(
            session=session, user=user, role=Role.publisher, org_id=tree.branch.id
        ).id
        ids[name] = user.id
    key = get_settings().id_hash_key
    for serial, name in enumerate(("m_show", "m_patch", "m_page_edit", "m_page_active")):
        ids[name] = add_member(
            session=session,
            org_id=tree.branch.id,
            name=name,
            id_number=id_number(serial),
            hash_key=key,
        ).id
    session.commit()
    return ids


def _admins(adm: int, far: int, root: int) -> dict[str | None, int]:
    return {"adm": adm, "far": far, "root": root}


READS = [
    ("/api/orgs", {**NO, **_admins(200, 200, 200)}),
    ("/api/orgs/{general}", {**NO, **_admins(200, 404, 200)}),
    ("/api/orgs/{district}", {**NO, **_admins(404, 404, 200)}),
    ("/api/users", {**NO, **_admins(200, 200, 200)}),
    ("/api/users?q=t_&org_id={branch}&page=1&per_page=5", {**NO, **_admins(200, 404, 200)}),
    ("/api/users/{t_show}", {**NO, **_admins(200, 404, 200)}),
    ("/api/members", {**NO, **_admins(200, 200, 200)}),
    ("/api/members?q=m_&org_id={branch}&active=true", {**NO, **_admins(200, 404, 200)}),
    ("/api/members/{m_show}", {**NO, **_admins(200, 404, 200)}),
    ("/api/members/export?format=csv", {**NO, **_admins(200, 200, 200)}),
    ("/api/members/export?format=xlsx&org_id={general}", {**NO, **_admins(200, 404, 200)}),
    ("/admin", {**PAGE_NO, **_admins(303, 303, 303)}),
    ("/admin/orgs", {**PAGE_NO, **_admins(200, 200, 200)}),
    ("/admin/orgs/{general}", {**PAGE_NO, **_admins(200, 404, 200)}),
    ("/admin/users", {**PAGE_NO, **_admins(200, 200, 200)}),
    ("/admin/users?q=t&org_id={branch}&page=2", {**PAGE_NO, **_admins(200, 404, 200)}),
    ("/admin/users/new", {**PAGE_NO, **_admins(200, 200, 200)}),
    ("/admin/users/{t_show}", {**PAGE_NO, **_admins(200, 404, 200)}),
    ("/admin/members", {**PAGE_NO, **_admins(200, 200, 200)}),
    ("/admin/members?status=inactive&org_id={branch}", {**PAGE_NO, **_admins(200, 404, 200)}),
    ("/admin/members/new", {**PAGE_NO, **_admins(200, 200, 200)}),
    ("/admin/members/import", {**PAGE_NO, **_admins(200, 200, 200)}),
    ("/admin/members/{m_show}", {**PAGE_NO, **_admins(200, 404, 200)}),
]


def _writes(ids: dict[str, int]) -> list[Case]:
    branch, general = ids["branch"], ids["general"]
    member = {"name": "新党员", "org_id": branch, "phone": "", "joined_on": ""}
    return [
        Case(
            "POST",
            "/api/orgs",
            {**NO, **_admins(201, 403, 201)},
            json={"name": "三支部", "kind": "branch", "parent_id": general},
        ),
        Case(
            "PATCH",
            "/api/orgs/{sibling}",
            {**NO, **_admins(200, 404, 200)},
            json={"name": "第二支部（新）"},
        ),
        Case(
            "POST",
            "/api/orgs/{sibling}/move",
            {**NO, **_admins(200, 404, 200)},
            json={"parent_id": ids["second"]},
        ),
        Case(
            "POST",
            "/api/users",
            {**NO, **_admins(201, 403, 201)},
            json={"login": "api_new", "role": "member", "org_id": branch},
        ),
        Case(
            "PATCH",
            "/api/users/{t_patch}",
            {**NO, **_admins(200, 404, 200)},
            json={"active": False, "display_name": "停用"},
        ),
        Case(
            "POST",
            "/api/users/{t_grant}/roles",
            {**NO, **_admins(201, 404, 201)},
            json={"role": "publisher", "org_id": branch},
        ),
        Case(
            "DELETE",
            "/api/users/{t_revoke}/roles/{t_revoke_grant}",
            {**NO, **_admins(204, 404, 204)},
        ),
        Case(
            "POST",
            "/api/members",
            {**NO, **_admins(201, 403, 201)},
            json={"name": "新", "id_number": id_number(50), "org_id": branch},
        ),
        Case(
            "POST",
            "/api/members/lookup",
            {**NO, **_admins(200, 200, 200)},
            json={"id_number": id_number(0)},
        ),
        Case(
            "PATCH",
            "/api/members/{m_patch}",
            {**NO, **_admins(200, 404, 200)},
            json={"phone": "13800138000", "active": False},
        ),
        Case(
            "POST",
            "/api/members/import",
            {**NO, **_admins(200, 400, 200)},
            file=roster_csv([["姓名", "身份证号", "组织"], ["导入", id_number(60), branch]]),
        ),
        Case(
            "POST",
            "/admin/orgs",
            {**PAGE_NO, **_admins(303, 403, 303)},
            form={"name": "页面支部", "kind": "branch", "parent_id": str(general)},
        ),
        Case(
            "POST",
            "/admin/orgs/{sibling}/rename",
            {**PAGE_NO, **_admins(303, 404, 303)},
            form={"name": "改名"},
        ),
        Case(
            "POST",
            "/admin/orgs/{branch}/move",
            {**PAGE_NO, **_admins(303, 404, 303)},
            form={"parent_id": str(ids["second"])},
        ),
        Case(
            "POST",
            "/admin/orgs/{spare}/active",
            {**PAGE_NO, **_admins(303, 404, 303)},
            form={"active": "0"},
        ),
        Case(
            "POST",
            "/admin/users",
            {**PAGE_NO, **_admins(201, 403, 201)},
            form={"login": "page_new", "role": "member", "org_id": str(branch)},
        ),
        Case(
            "POST",
            "/admin/users/{t_rename}/rename",
            {**PAGE_NO, **_admins(303, 404, 303)},
            form={"display_name": "新名字"},
        ),
        Case(
            "POST",
            "/admin/users/{t_page_active}/active",
            {**PAGE_NO, **_admins(303, 404, 303)},
            form={"active": "0"},
        ),
        Case(
            "POST",
            "/admin/users/{t_page_grant}/roles",
            {**PAGE_NO, **_admins(303, 404, 303)},
            form={"role": "publisher", "org_id": str(branch)},
        ),
        Case(
            "POST",
            "/admin/users/{t_page_revoke}/roles/{t_page_revoke_grant}/revoke",
            {**PAGE_NO, **_admins(303, 404, 303)},
            form={},
        ),
        Case(
            "POST",
            "/admin/members",
            {**PAGE_NO, **_admins(303, 403, 303)},
            form={**member, "id_number": id_number(70)},
        ),
        Case(
            "POST",
            "/admin/members/lookup",
            {**PAGE_NO, **_admins(200, 200, 200)},
            form={"id_number": id_number(1)},
        ),
        Case(
            "POST",
            "/admin/members/import",
            {**PAGE_NO, **_admins(200, 400, 200)},
            file=roster_csv([["姓名", "身份证号", "组织"], ["页面", id_number(80), branch]]),
        ),
        Case(
            "POST",
            "/admin/members/{m_page_edit}",
            {**PAGE_NO, **_admins(303, 404, 303)},
            form={**member, "name": "改过"},
        ),
        Case(
            "POST",
            "/admin/members/{m_page_active}/active",
            {**PAGE_NO, **_admins(303, 404, 303)},
            form={"active": "0"},
        ),
    ]


def _send(client: TestClient, case: Case, ids: dict[str, int], token: str) -> int:
    path = case.path.format(**ids)
    if case.file is not None:
        response = client.post(
            path,
            files={"file": ("roster.csv", case.file, "text/csv")},
            data={"csrf_token": token},
            follow_redirects=False,
        )
    elif case.form is not None:
        response = client.request(
            case.method, path, data={**case.form, "csrf_token": token}, follow_redirects=False
        )
    else:
        response = client.request(
            case.method,
            path,
            json=case.json,
            headers={"X-CSRF-Token": token},
            follow_redirects=False,
        )
    return response.status_code


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
    for case in _writes(world):
        status = _send(client, case, world, token)
        if status != case.expected[who]:
            wrong.append((case.method, case.path, status, case.expected[who]))
    assert not wrong, wrong


def test_anonymous_pages_go_to_the_login(client: TestClient, world: dict[str, int]) -> None:
    response = client.get("/admin/users", follow_redirects=False)
    assert response.headers["location"] == "/login?next=/admin/users"


def test_writes_need_the_csrf_token(client: TestClient, world: dict[str, int]) -> None:
    token_for(client, "root")
    assert client.post("/admin/orgs", data={"name": "x", "kind": "branch"}).status_code == 403
    response = client.post("/api/orgs", json={"name": "x", "kind": "district"})
    assert response.status_code == 403
    forged = client.patch(
        f"/api/users/{world['t_patch']}", json={"active": False}, headers={"X-CSRF-Token": "x"}
    )
    assert forged.status_code == 403
