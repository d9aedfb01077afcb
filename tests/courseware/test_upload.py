"""Resumable (tus) upload through the API: interrupted and resumed, size limit, bad metadata."""

import base64
import errno
import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.db import get_engine, session_scope
from core.jobs import execute_job
from core.people.models import Role, User
from core.settings import get_settings
from core.storage import LocalStore, ObjectStore, get_store
from courseware.models import Lesson
from courseware.uploads import finish_upload, upload_dir
from tests.factories import log_in, make_tree, make_user
from tests.faults import read_only
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
    make_user(session, "other", Role.publisher, tree.town)
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


# --- completion: never lose a finished upload ---------------------------------------------------


class FullDisk(LocalStore):
    """The real local store, whose disk is full for the first `failures` writes."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures = failures

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), key)
        super().put_file(key, path, content_type=content_type)


class WatchedStore(LocalStore):
    """The real local store; each copy of a source records whether a database transaction was
    held open across it (SQLite: its write lock is taken; PostgreSQL: a transaction that began
    before the copy is still open after it)."""

    def __init__(self, root: Path, pause: float) -> None:
        super().__init__(root)
        self.pause = pause
        self.writable_during_copy: list[bool] = []

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        engine = get_engine()
        if engine.dialect.name == "sqlite":
            time.sleep(self.pause)
            self.writable_during_copy.append(_sqlite_writable(engine.url.database or ""))
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                started = connection.scalar(text("SELECT clock_timestamp()"))
                time.sleep(self.pause)
                held = connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND xact_start < :started"
                    ),
                    {"started": started},
                )
            self.writable_during_copy.append(held == 0)
        super().put_file(key, path, content_type=content_type)


def _sqlite_writable(database: str) -> bool:
    """Whether another connection can take SQLite's write lock right now."""
    probe = sqlite3.connect(database, timeout=0.5)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def _send_all(client: TestClient, token: str, data: bytes, *, title: str = "课") -> str:
    """Create an upload and send every byte in one chunk; returns its id (completion may fail)."""
    location = _create(
        client,
        token,
        len(data),
        filename="课.mp4",
        filetype="video/mp4",
        title=title,
        course_title="新课程",
        org_id=str(client.org_id),  # type: ignore[attr-defined]
    )
    client.last_patch = client.patch(  # type: ignore[attr-defined]
        location,
        content=data,
        headers={
            **TUS,
            "X-CSRF-Token": token,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    return location.rstrip("/").split("/")[-1]


def _lessons_of(upload_id: str) -> list[Lesson]:
    with session_scope() as session:
        return list(session.scalars(select(Lesson).where(Lesson.upload_id == upload_id)))


def _staged(upload_id: str) -> list[str]:
    return sorted(p.name for p in upload_dir().glob(f"{upload_id}*"))


def _use_store(client: TestClient, store: ObjectStore) -> None:
    client.app.dependency_overrides[get_store] = lambda: store  # type: ignore[attr-defined]


@pytest.mark.parametrize("failure", ["full disk", "read-only store"])
def test_a_finished_upload_survives_a_failed_completion(
    client: TestClient, tmp_path: Path, failure: str
) -> None:
    token = log_in(client, "pub")
    data = make_clip(tmp_path / "课.mp4", seconds=1).read_bytes()
    root = tmp_path / "objects"
    if failure == "full disk":
        _use_store(client, FullDisk(root, failures=2))
        upload_id = _send_all(client, token, data)
    else:
        _use_store(client, LocalStore(root))
        with read_only(root):
            upload_id = _send_all(client, token, data)
    failed = client.last_patch  # type: ignore[attr-defined]
    assert failed.status_code == 503
    assert "稍后重试" in failed.json()["detail"]  # the uploader is told to try again
    assert "Errno" not in failed.text and str(root) not in failed.text
    head = client.head(f"/api/uploads/{upload_id}", headers={**TUS, "X-CSRF-Token": token})
    assert head.headers["upload-offset"] == head.headers["upload-length"] == str(len(data))
    assert _lessons_of(upload_id) == []
    assert _staged(upload_id) == [upload_id, f"{upload_id}.info"]  # kept for a retry
    assert list(LocalStore(root).list()) == []  # no half-stored copy left behind

    if failure == "full disk":  # still full: the retry fails the same way and loses nothing
        assert client.get(f"/api/uploads/{upload_id}").status_code == 503
        assert _staged(upload_id) == [upload_id, f"{upload_id}.info"]
    # the browser's tus client sees the upload complete and asks for its lesson: that completes it
    shown = client.get(f"/api/uploads/{upload_id}")
    assert shown.status_code == 200 and shown.json()["title"] == "课"
    (lesson,) = _lessons_of(upload_id)
    assert LocalStore(root).get_bytes(lesson.source_key) == data
    assert lesson.source_size == len(data)
    assert _staged(upload_id) == []
    # asking again (a retried request) gives the same lesson, never a second one
    assert client.get(f"/api/uploads/{upload_id}").json()["id"] == lesson.id
    assert len(_lessons_of(upload_id)) == 1
    assert list(LocalStore(root).list("sources/")) == [lesson.source_key]


def test_an_upload_whose_server_died_before_completion_is_completed_later(
    client: TestClient, tmp_path: Path
) -> None:
    """The server dies after the last byte is written and before the lesson exists (simulated
    by a completion hook that never runs); after a restart the owner, and only the owner, gets
    the lesson."""
    from courseware import api

    token = log_in(client, "pub")
    data = make_clip(tmp_path / "课.mp4", seconds=1).read_bytes()
    client.app.dependency_overrides[api.upload_complete_dep] = (  # type: ignore[attr-defined]
        lambda: lambda *_: None
    )
    upload_id = _send_all(client, token, data)
    assert client.last_patch.status_code == 204  # type: ignore[attr-defined]
    assert _lessons_of(upload_id) == [] and len(_staged(upload_id)) == 2

    with TestClient(create_app()) as restarted:
        log_in(restarted, "other")
        assert restarted.get(f"/api/uploads/{upload_id}").status_code == 404  # not the owner
        log_in(restarted, "pub")
        shown = restarted.get(f"/api/uploads/{upload_id}")
        assert shown.status_code == 200
        (lesson,) = _lessons_of(upload_id)
        assert shown.json()["id"] == lesson.id and lesson.created_by is not None
        assert get_store().get_bytes(lesson.source_key) == data
    assert _staged(upload_id) == []


def test_only_the_owner_reaches_an_upload(client: TestClient, tmp_path: Path) -> None:
    token = log_in(client, "pub")
    location = _create(
        client,
        token,
        10,
        filename="a.mp4",
        filetype="video/mp4",
        course_title="新课程",
        org_id=str(client.org_id),  # type: ignore[attr-defined]
    )
    with TestClient(create_app()) as intruder:
        other = log_in(intruder, "other")
        headers = {**TUS, "X-CSRF-Token": other}
        assert intruder.head(location, headers=headers).status_code == 404
        written = intruder.patch(
            location,
            content=b"0123456789",
            headers={
                **headers,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert written.status_code == 404
    head = client.head(location, headers={**TUS, "X-CSRF-Token": token})
    assert head.headers["upload-offset"] == "0"  # not a byte of the intruder's was taken


def test_uploads_finishing_together_both_become_lessons(client: TestClient, tmp_path: Path) -> None:
    """Two uploads whose last bytes arrive at the same moment: both succeed, and no database
    transaction is open while either source is copied into the store."""
    store = WatchedStore(tmp_path / "objects", pause=0.5)
    _use_store(client, store)
    token = log_in(client, "pub")
    clips = [make_clip(tmp_path / f"{n}.mp4", seconds=1 + n).read_bytes() for n in range(2)]
    start = threading.Barrier(2)

    def upload(n: int) -> tuple[str, int]:
        location = _create(
            client,
            token,
            len(clips[n]),
            filename=f"{n}.mp4",
            filetype="video/mp4",
            title=f"课{n}",
            course_title="新课程",
            org_id=str(client.org_id),  # type: ignore[attr-defined]
        )
        start.wait()
        done = client.patch(
            location,
            content=clips[n],
            headers={
                **TUS,
                "X-CSRF-Token": token,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        )
        return location.rstrip("/").split("/")[-1], done.status_code

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(upload, range(2)))
    assert [status for _, status in results] == [204, 204]
    assert store.writable_during_copy == [True, True]
    for n, (upload_id, _) in enumerate(results):
        (lesson,) = _lessons_of(upload_id)
        assert store.get_bytes(lesson.source_key) == clips[n]


def test_parallel_completions_of_one_upload_make_one_lesson(
    client: TestClient, tmp_path: Path
) -> None:
    from courseware import api

    token = log_in(client, "pub")
    data = make_clip(tmp_path / "课.mp4", seconds=1).read_bytes()
    client.app.dependency_overrides[api.upload_complete_dep] = (  # type: ignore[attr-defined]
        lambda: lambda *_: None
    )
    upload_id = _send_all(client, token, data)
    with session_scope() as session:
        owner = session.scalar(select(User.id).where(User.login == "pub"))
    assert owner is not None
    start = threading.Barrier(4)

    def complete(_: int) -> int:
        start.wait()
        return finish_upload(
            directory=upload_dir(), store=get_store(), upload_id=upload_id, user_id=owner
        ).id

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(complete, range(4)))
    (lesson,) = _lessons_of(upload_id)
    assert ids == {lesson.id}
    assert list(get_store().list("sources/")) == [lesson.source_key]  # losers' copies removed
