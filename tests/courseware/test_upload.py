"""Resumable (tus) upload through the API: interrupted and resumed, size limit, bad metadata."""

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.db import session_scope
from core.jobs import execute_job
from core.people.models import Role
from core.settings import get_settings
from core.storage import get_store
from courseware.models import Lesson
from tests.factories import log_in, make_tree, make_user
from tests.media import make_clip
from web.app import create_app

TUS = {"Tus-Resumable": "1.0.0"}


def _metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


@pytest.fixture
def client(session: Session) -> TestClient:
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    make_user(session, "member", Role.member, tree.branch)
    test_client = TestClient(create_app())
    test_client.org_id = tree.town.id  # type: ignore[attr-defined]
    return test_client


def _create(client: TestClient, token: str, size: int, **meta: str) -> str:
    response = client.post(
        "/api/uploads",
        headers={
            **TUS,
            "X-CSRF-Token": token,
            "Upload-Length": str(size),
            "Upload-Metadata": _metadata(**meta),
        },
    )
    assert response.status_code == 201, response.text
    return response.headers["location"]


def test_interrupted_upload_resumes_and_becomes_a_lesson(
    client: TestClient, tmp_path: Path
) -> None:
    token = log_in(client, "pub")
    data = make_clip(tmp_path / "课.mp4", seconds=3).read_bytes()
    location = _create(
        client,
        token,
        len(data),
        filename="课.mp4",
        filetype="video/mp4",
        title="上传的课",
        course_title="新课程",
        org_id=str(client.org_id),  # type: ignore[attr-defined]
    )
    half = len(data) // 2
    first = client.patch(
        location,
        content=data[:half],
        headers={
            **TUS,
            "X-CSRF-Token": token,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert first.status_code == 204 and first.headers["upload-offset"] == str(half)
    # the connection drops here; the client asks where to go on from
    head = client.head(location, headers={**TUS, "X-CSRF-Token": token})
    assert head.headers["upload-offset"] == str(half)
    second = client.patch(
        location,
        content=data[half:],
        headers={
            **TUS,
            "X-CSRF-Token": token,
            "Upload-Offset": str(half),
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert second.status_code == 204
    upload_id = location.rstrip("/").split("/")[-1]
    lesson = client.get(f"/api/uploads/{upload_id}").json()
    assert lesson["status"] == "processing" and lesson["title"] == "上传的课"
    with session_scope() as session:
        stored = session.get_one(Lesson, lesson["id"])
        job_id, source_key = stored.job_id, stored.source_key
    assert source_key.endswith("/课.mp4") and get_store().get_bytes(source_key) == data
    assert not list((get_settings().home / "uploads").glob(f"{upload_id}*"))
    assert job_id is not None
    execute_job(job_id)
    assert client.get(f"/api/lessons/{lesson['id']}").json()["status"] == "ready"


def test_oversized_upload_is_refused_with_413(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = log_in(client, "pub")
    response = client.post(
        "/api/uploads",
        headers={
            **TUS,
            "X-CSRF-Token": token,
            "Upload-Length": str(get_settings().max_upload_bytes + 1),
            "Upload-Metadata": _metadata(filename="a.mp4", course_title="x", org_id="1"),
        },
    )
    assert response.status_code == 413
    assert "的上限" in response.json()["detail"]


def test_members_cannot_upload(client: TestClient) -> None:
    token = log_in(client, "member")
    response = client.post(
        "/api/uploads",
        headers={
            **TUS,
            "X-CSRF-Token": token,
            "Upload-Length": "10",
            "Upload-Metadata": _metadata(
                filename="a.mp4", course_title="x", org_id=str(client.org_id)
            ),
        },  # type: ignore[attr-defined]
    )
    assert response.status_code == 403


def test_upload_without_a_course_is_refused(client: TestClient) -> None:
    token = log_in(client, "pub")
    response = client.post(
        "/api/uploads",
        headers={
            **TUS,
            "X-CSRF-Token": token,
            "Upload-Length": "10",
            "Upload-Metadata": _metadata(filename="a.mp4"),
        },
    )
    assert response.status_code == 400
