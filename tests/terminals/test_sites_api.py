"""The sites API as clients use it: shapes, readable refusals, one-time secrets not cached,
partial updates, photo limits, and the routes documented in the OpenAPI schema."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.people.models import Role
from terminals.sites.photos import MAX_PHOTO_BYTES
from tests.factories import Tree, log_in, make_course, make_lesson, make_user
from tests.terminals.sites_data import tiny_png

BODY = {"code": "500101001001", "name": "石桥村站点", "tier": "精品"}


@pytest.fixture
def token(client: TestClient, session: Session, tree: Tree) -> str:
    make_user(session, "adm", Role.org_admin, tree.town)
    return log_in(client, "adm")


def test_create_read_update(client: TestClient, tree: Tree, token: str) -> None:
    headers = {"X-CSRF-Token": token}
    created = client.post(
        "/api/sites",
        json={**BODY, "org_id": tree.branch.id, "download_windows": ["22:00-06:00"]},
        headers=headers,
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    body = created.json()
    site = body["site"]
    assert len(body["enrolment_code"]) == 19
    assert (site["tier"], site["tier_label"], site["status"], site["presence"]) == (
        "premium",
        "精品",
        "registered",
        "never",
    )
    assert site["transitions"] == ["approve", "suspend"]  # the town is above the branch
    path = f"/api/sites/{site['id']}"
    patched = client.patch(path, json={"latitude": 29.5, "longitude": 106.5}, headers=headers)
    assert (patched.json()["latitude"], patched.json()["name"]) == (29.5, "石桥村站点")
    cleared = client.patch(path, json={"latitude": None, "longitude": None}, headers=headers)
    assert cleared.json()["latitude"] is None and cleared.json()["download_windows"] == [
        "22:00-06:00"
    ]
    code = client.post(f"{path}/enrolment-code", headers=headers)
    assert code.status_code == 201 and code.headers["cache-control"] == "no-store"
    admin = client.post(
        f"{path}/administrators", json={"login": "zhanzhang", "create": True}, headers=headers
    )
    assert admin.status_code == 201 and len(admin.json()["password"]) >= 12
    listed = client.get("/api/sites?tier=精品&presence=never").json()
    assert listed["total"] == 1 and listed["items"][0]["administrators"][0]["login"] == "zhanzhang"


def test_refusals_are_readable(client: TestClient, tree: Tree, token: str) -> None:
    headers = {"X-CSRF-Token": token}
    cases = [
        ({**BODY, "code": "5001", "org_id": tree.branch.id}, 400, "不是有效的行政区划代码"),
        ({**BODY, "tier": "金牌", "org_id": tree.branch.id}, 400, "未知等级 金牌"),
        ({**BODY, "latitude": 30, "org_id": tree.branch.id}, 400, "纬度和经度须同时填写"),
        ({**BODY, "latitude": 95, "longitude": 1, "org_id": tree.branch.id}, 422, "latitude"),
        ({**BODY, "download_windows": ["6pm"], "org_id": tree.branch.id}, 400, "下载时段 6pm 无效"),
        ({**BODY, "org_id": tree.other.id}, 403, "您不是组织"),
    ]
    for body, status, text in cases:
        response = client.post("/api/sites", json=body, headers=headers)
        assert (response.status_code, text in response.json()["detail"]) == (status, True), body
    assert client.get("/api/sites", params={"tier": "gold"}).status_code == 400


def test_photos_and_assigned_lessons(
    client: TestClient, session: Session, tree: Tree, token: str
) -> None:
    headers = {"X-CSRF-Token": token}
    site = client.post("/api/sites", json={**BODY, "org_id": tree.branch.id}, headers=headers)
    path = f"/api/sites/{site.json()['site']['id']}"
    too_big = b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_PHOTO_BYTES + 70_000)
    refused = client.post(
        f"{path}/photos", files={"file": ("big.png", too_big, "image/png")}, headers=headers
    )
    assert refused.status_code == 413
    added = client.post(
        f"{path}/photos", files={"file": ("a.png", tiny_png(), "image/png")}, headers=headers
    )
    assert added.status_code == 201
    photo = client.get(f"{path}/photos/{added.json()['name']}")
    assert photo.content == tiny_png() and photo.headers["content-type"] == "image/png"
    assert (
        client.delete(f"{path}/photos/{added.json()['name']}", headers=headers).status_code == 204
    )

    publisher = make_user(session, "pub", Role.publisher, tree.town)
    lesson = make_lesson(session, make_course(session, publisher, tree.town))
    lesson.renditions = [{"height": h, "width": h * 16 // 9, "bandwidth": 1} for h in (720, 360)]
    session.commit()
    assigned = client.post(f"{path}/assignments", json={"lesson_id": lesson.id}, headers=headers)
    assert assigned.status_code == 201 and assigned.json()["removable"]
    held = client.get(f"{path}/lessons").json()
    # a premium site downloads up to 720p; the download state waits for the agent's report
    assert held == [
        {
            "lesson_id": lesson.id,
            "title": lesson.title,
            "height": 720,
            "assignment_id": assigned.json()["id"],
            "download_state": None,  # no agent has reported yet
            "download_percent": None,
            "download_reported_at": None,
        }
    ]
    both = client.post(
        f"{path}/assignments", json={"lesson_id": lesson.id, "course_id": 1}, headers=headers
    )
    assert both.status_code == 400


def test_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/sites",
        "/api/sites/{site_id}",
        "/api/sites/{site_id}/status",
        "/api/sites/{site_id}/enrolment-code",
        "/api/sites/{site_id}/administrators",
        "/api/sites/{site_id}/devices/revoke",
        "/api/sites/{site_id}/photos",
        "/api/sites/{site_id}/assignments",
        "/api/site-assignments",
    ):
        assert path in paths, path
    assert not any(path.startswith("/admin/sites") for path in paths)


def test_a_code_from_the_sites_api_enrols_an_agent(
    client: TestClient, session: Session, tree: Tree, token: str
) -> None:
    headers = {"X-CSRF-Token": token}
    created = client.post("/api/sites", json={**BODY, "org_id": tree.branch.id}, headers=headers)
    code = created.json()["enrolment_code"]
    enrolled = client.post("/api/terminal/enrol", json={"code": code})
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["site"]["id"] == created.json()["site"]["id"]
    devices = client.get(f"/api/sites/{created.json()['site']['id']}/devices").json()
    assert [d["presence"] for d in devices] == ["online"]
    again = client.post("/api/terminal/enrol", json={"code": code})
    assert again.status_code == 400  # once only
