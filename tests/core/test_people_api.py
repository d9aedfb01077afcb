"""The people API and pages as clients use them: limits and formats, messages, files."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.people import roster, schemas
from core.people.models import Member, Organisation, Role, User
from tests.factories import Tree, id_number, log_in, make_tree, make_user, roster_csv


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "adm", Role.org_admin, tree.town)
    return tree


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_text_limits_are_the_columns() -> None:
    columns = {
        schemas.ORG_NAME_MAX: Organisation.__table__.c.name,
        schemas.LOGIN_MAX: User.__table__.c.login,
        schemas.DISPLAY_NAME_MAX: User.__table__.c.display_name,
        schemas.MEMBER_NAME_MAX: Member.__table__.c.name,
        schemas.PHONE_MAX: Member.__table__.c.phone,
    }
    for limit, column in columns.items():
        assert limit == column.type.length, column
    assert (schemas.ORG_NAME_MAX, schemas.LOGIN_MAX, schemas.MEMBER_NAME_MAX) == (200, 80, 120)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/orgs", {"name": "长" * 201, "kind": "branch", "parent_id": "{general}"}),
        ("/api/users", {"login": "l" * 81, "role": "member", "org_id": "{branch}"}),
        (
            "/api/users",
            {"login": "ok", "display_name": "名" * 121, "role": "member", "org_id": "{branch}"},
        ),
        ("/api/users", {"login": "with space", "role": "member", "org_id": "{branch}"}),
        ("/api/members", {"name": "名" * 121, "id_number": id_number(1), "org_id": "{branch}"}),
        (
            "/api/members",
            {"name": "王", "id_number": id_number(1), "org_id": "{branch}", "phone": "1" * 33},
        ),
        ("/api/members", {"name": "王", "id_number": "123", "org_id": "{branch}"}),
        (
            "/api/members",
            {"name": "王", "id_number": id_number(1), "org_id": "{branch}", "unknown": 1},
        ),
    ],
)
def test_api_refuses_long_or_malformed_text_with_a_message(
    client: TestClient, session: Session, tree: Tree, path: str, body: dict
) -> None:
    token = log_in(client, "adm")
    ids = {"general": tree.general.id, "branch": tree.branch.id}
    sent = {
        k: int(v.format(**ids)) if v in ("{general}", "{branch}") else v for k, v in body.items()
    }
    before = (_count(session, Organisation), _count(session, User), _count(session, Member))
    response = client.post(path, json=sent, headers={"X-CSRF-Token": token})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("请求无效") and ":" in detail, detail  # one line, in Chinese
    assert (_count(session, Organisation), _count(session, User), _count(session, Member)) == before


def test_pages_refuse_long_text_with_a_translated_message(
    client: TestClient, session: Session, tree: Tree
) -> None:
    token = log_in(client, "adm")
    response = client.post(
        "/admin/orgs",
        data={
            "name": "长" * 201,
            "kind": "branch",
            "parent_id": str(tree.general.id),
            "csrf_token": token,
        },
    )
    assert response.status_code == 400 and "组织名称最多 200 个字符。" in response.text
    response = client.post(
        "/admin/members",
        data={
            "name": "名" * 121,
            "id_number": id_number(1),
            "org_id": str(tree.branch.id),
            "csrf_token": token,
        },
    )
    assert response.status_code == 400 and "姓名最多 120 个字符。" in response.text
    assert id_number(1) not in response.text  # the number is not sent back into the form
    response = client.post(
        "/admin/users",
        data={"login": "", "role": "member", "org_id": str(tree.branch.id), "csrf_token": token},
    )
    assert response.status_code == 400 and "请填写登录名。" in response.text
    english = client.post(
        f"/admin/orgs/{tree.branch.id}/rename?lang=en",
        data={"name": "x" * 201, "csrf_token": token},
    )
    assert "Organisation name: at most 200 characters." in english.text
    assert _count(session, Member) == 0


def test_new_account_page_shows_the_password_once(
    client: TestClient, session: Session, tree: Tree
) -> None:
    token = log_in(client, "adm")
    response = client.post(
        "/admin/users",
        data={
            "login": "lihua",
            "display_name": "李华",
            "role": "publisher",
            "org_id": str(tree.branch.id),
            "csrf_token": token,
        },
    )
    assert response.status_code == 201 and response.headers["cache-control"] == "no-store"
    password = response.text.split('id="new-password">')[1].split("<")[0]
    user = session.scalars(select(User).where(User.login == "lihua")).one()
    assert user.must_change_password and len(password) >= 12
    assert password not in client.get(f"/admin/users/{user.id}").text


def test_member_lookup_travels_in_the_body(
    client: TestClient, session: Session, tree: Tree
) -> None:
    token = log_in(client, "adm")
    created = client.post(
        "/api/members",
        json={
            "name": "王芳",
            "id_number": id_number(1),
            "org_id": tree.branch.id,
            "joined_on": "2001-07-01",
        },
        headers={"X-CSRF-Token": token},
    )
    assert created.status_code == 201 and id_number(1) not in created.text
    found = client.post(
        "/api/members/lookup", json={"id_number": id_number(1)}, headers={"X-CSRF-Token": token}
    ).json()
    assert [m["name"] for m in found] == ["王芳"]
    page = client.post(
        "/admin/members/lookup", data={"id_number": id_number(1), "csrf_token": token}
    )
    assert "王芳" in page.text and id_number(1) not in page.text
    cleared = client.patch(
        f"/api/members/{created.json()['id']}",
        json={"joined_on": None},
        headers={"X-CSRF-Token": token},
    )
    assert cleared.json()["joined_on"] is None and cleared.json()["name"] == "王芳"


def test_import_api_reports_rows_in_the_readers_language(
    client: TestClient, session: Session, tree: Tree
) -> None:
    token = log_in(client, "adm")
    data = roster_csv(
        [
            ["姓名", "身份证号", "组织"],
            ["王芳", id_number(1), "第一支部"],
            ["", id_number(2), "第一支部"],
        ]
    )
    response = client.post(
        "/api/members/import",
        files={"file": ("r.csv", data, "text/csv")},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["applied"] is False and body["errors"] == [{"row": 3, "message": "姓名不能为空。"}]
    assert body["detail"] == "未导入任何数据：请修改所列各行。"
    checked = client.post(
        "/api/members/import",
        files={"file": ("r.csv", data[: data.rindex(b"\r\n", 0, -2)], "text/csv")},
        data={"dry_run": "true"},
        headers={"X-CSRF-Token": token},
    )
    assert checked.json() == {
        "applied": False,
        "added": 1,
        "updated": 0,
        "unchanged": 0,
        "errors": [],
        "invitations": [],
    }
    assert _count(session, Member) == 0


def test_import_refuses_a_file_over_the_limit(
    client: TestClient, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.people import api, member_pages

    monkeypatch.setattr(api, "MAX_ROSTER_BYTES", 100)
    monkeypatch.setattr(member_pages, "MAX_ROSTER_BYTES", 100)
    token = log_in(client, "adm")
    big = b"x" * 101
    response = client.post(
        "/api/members/import", files={"file": ("r.csv", big)}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 413 and "MB" in response.json()["detail"]
    page = client.post(
        "/admin/members/import", files={"file": ("r.csv", big)}, data={"csrf_token": token}
    )
    assert page.status_code == 413 and "文件超过" in page.text
    assert roster.MAX_ROSTER_BYTES == 5 * 1024 * 1024


def test_import_page_shows_each_row_problem(client: TestClient, tree: Tree) -> None:
    token = log_in(client, "adm")
    data = roster_csv([["姓名", "身份证号", "组织"], ["王芳", "12345", "第一支部"]])
    page = client.post(
        "/admin/members/import", files={"file": ("r.csv", data)}, data={"csrf_token": token}
    )
    assert page.status_code == 400
    assert "未导入任何数据。" in page.text and "身份证号应为 18 位" in page.text
