"""Request body limits: 413 before the body is read and before any login check."""

from collections.abc import Iterator

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.people.models import Role
from core.settings import get_settings
from tests.factories import log_in, make_tree, make_user
from web.app import create_app

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def app() -> FastAPI:
    return create_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def test_small_bodies_everywhere_login_too(client: TestClient) -> None:
    limit = get_settings().max_request_bytes
    refused = client.post("/login", data={"login": "x" * limit, "password": "p"})
    assert refused.status_code == 413
    assert "请求过大" in refused.text and "64 KB" in refused.text
    api = client.put(
        "/api/lessons/1/position", json={"seconds": 1.0, "pad": "x" * limit}
    )  # anonymous: 413, not 401 — the body limit comes before the login check
    assert api.status_code == 413 and "64 KB" in api.json()["detail"]
    english = client.put("/api/lessons/1/position?lang=en", content=b"{" + b" " * limit + b"}")
    assert english.status_code == 413
    assert english.json()["detail"] == ("The request is too large: at most 64 KB may be sent here.")
    # within the limit the request goes on to the usual checks (here: no CSRF token)
    assert client.put("/api/lessons/1/position", json={"seconds": 1.0}).status_code == 403


def test_attachments_up_to_their_own_limit(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "max_attachment_bytes", 200 * 1024)
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    token = log_in(client, "pub")
    url = "/api/lessons/1/attachments"
    headers = {"X-CSRF-Token": token}
    fits = client.post(url, headers=headers, files={"file": ("a.pdf", b"%" * 150 * 1024)})
    assert fits.status_code == 404  # past the limit check: there is no lesson 1
    too_big = client.post(url, headers=headers, files={"file": ("a.pdf", b"%" * 300 * 1024)})
    assert too_big.status_code == 413 and "264 KB" in too_big.json()["detail"]


@pytest.mark.parametrize(
    ("method", "url", "field"),
    [
        ("post", "/api/members/import", "file"),
        ("post", "/admin/members/import", "file"),
        ("put", "/api/courses/1/cover", "file"),
    ],
)
def test_rosters_and_covers_up_to_their_own_limit(
    client: TestClient, session: Session, method: str, url: str, field: str
) -> None:
    tree = make_tree(session)
    make_user(session, "adm", Role.platform_admin, tree.district)
    token = log_in(client, "adm")
    send = getattr(client, method)
    fits = send(url, headers={"X-CSRF-Token": token}, files={field: ("a.csv", b"x" * 1024**2)})
    assert fits.status_code != 413, fits.text  # a 1 MB roster or picture reaches its route
    too_big = send(
        url, headers={"X-CSRF-Token": token}, files={field: ("a.csv", b"x" * 6 * 1024**2)}
    )
    assert too_big.status_code == 413


def test_tus_chunks_and_creation_requests_up_to_the_chunk_limit(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "max_chunk_bytes", 1024 * 1024)
    chunk = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    upload = "/api/uploads/" + "a" * 32
    assert client.patch(upload, headers=chunk, content=b"\0" * (1024 * 1024 + 1)).status_code == 413
    # one byte less passes the limit and meets the login check
    assert client.patch(upload, headers=chunk, content=b"\0" * 1024 * 1024).status_code == 401
    override = {**chunk, "X-HTTP-Method-Override": "PATCH"}
    big = b"\0" * (2 * 1024 * 1024)
    assert client.post(upload, headers=override, content=big).status_code == 413
    created = client.post("/api/uploads", headers={**TUS, "Upload-Length": "9"}, content=big)
    assert created.status_code == 413


async def _call(
    app: FastAPI, path: str, chunks: list[bytes], declared: int | None
) -> tuple[int, int]:
    """Send a request straight to the ASGI app; returns (status, body bytes the app pulled)."""
    headers = [(b"content-type", b"application/json")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    pending = list(chunks)
    pulled = 0
    statuses: list[int] = []

    async def receive() -> dict[str, object]:
        nonlocal pulled
        if not pending:
            await anyio.sleep(3600)  # the client sends nothing more
        body = pending.pop(0)
        pulled += len(body)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))  # type: ignore[call-overload]

    with anyio.fail_after(10):
        await app(scope, receive, send)  # type: ignore[arg-type]
    return statuses[0], pulled


def test_a_declared_oversized_body_is_never_read(app: FastAPI) -> None:
    limit = get_settings().max_request_bytes
    status, pulled = anyio.run(
        _call, app, "/api/lessons/1/position", [b"x" * (limit + 1)], limit + 1
    )
    assert (status, pulled) == (413, 0)


def test_a_streamed_body_is_cut_off_at_the_limit(app: FastAPI) -> None:
    limit = get_settings().max_request_bytes
    piece = b" " * 16 * 1024
    chunks = [b"{", *[piece] * 40, b"}"]  # 640 KiB without a Content-Length
    status, pulled = anyio.run(_call, app, "/api/lessons/1/position", chunks, None)
    assert status == 413
    assert pulled <= limit + len(piece)  # the rest was never taken from the client
