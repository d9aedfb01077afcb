"""Ingest end to end: CLI, queue and worker, failure reasons, a killed worker, HLS delivery."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.db import session_scope
from core.errors import NotFound
from core.jobs.models import Job, JobStatus
from core.people.models import Role
from core.security import signing_key
from core.settings import get_settings
from core.storage import get_store
from courseware.delivery import check_signature
from courseware.ingest import sweep_unused_sources
from courseware.models import Lesson, Visibility
from courseware.service import create_course
from courseware.transcode.errors import REASONS
from tests.factories import csrf_token, log_in, make_tree, make_user
from tests.media import make_clip, make_not_media
from web.app import create_app
from web.cli import app as cli

YUANJIAO = str(Path(sys.executable).parent / "yuanjiao")
runner = CliRunner()


@pytest.fixture
def publisher(session: Session) -> str:
    tree = make_tree(session)
    user = make_user(session, "pub", Role.platform_admin, tree.district)
    make_user(session, "member", Role.member, tree.branch)
    make_user(session, "outsider", Role.member, tree.other)
    create_course(
        session=session, user=user, title="党课", org_id=tree.town.id, visibility=Visibility.org
    )
    session.commit()
    return user.login


def _show(lesson_id: int) -> dict:
    result = runner.invoke(cli, ["lessons", "show", str(lesson_id), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _source_key(lesson_id: int) -> str:
    with session_scope() as session:
        return session.get_one(Lesson, lesson_id).source_key


def _add(path: Path, *extra: str) -> tuple[int, int]:
    code, lesson_id, _ = _add_with_errors(path, *extra)
    return code, lesson_id


def _add_with_errors(path: Path, *extra: str) -> tuple[int, int, str]:
    result = runner.invoke(
        cli, ["lessons", "add", str(path), "--course", "党课", "--title", "第一课", *extra]
    )
    return result.exit_code, int(result.stdout.strip().splitlines()[-1]), result.stderr


def test_cli_add_wait_publishes_a_ladder(tmp_path: Path, publisher: str) -> None:
    clip = make_clip(tmp_path / "lesson.mp4", seconds=5, width=854, height=480)
    code, lesson_id = _add(clip, "--wait")
    assert code == 0
    shown = _show(lesson_id)
    assert shown["status"] == "ready" and shown["error"] is None
    assert shown["master"] == f"lessons/{lesson_id}/hls/master.m3u8"
    assert [r["height"] for r in shown["renditions"]] == [480, 360]
    assert all(r["bandwidth"] > 0 for r in shown["renditions"])
    assert abs(shown["duration"] - 5) < 0.5
    keys = set(get_store().list(f"lessons/{lesson_id}/"))
    assert get_store().get_bytes(_source_key(lesson_id)) == clip.read_bytes()
    assert _source_key(lesson_id).endswith("/lesson.mp4")
    assert f"lessons/{lesson_id}/poster.jpg" in keys
    assert {f"lessons/{lesson_id}/hls/{h}p/index.m3u8" for h in (480, 360)} <= keys


def test_not_media_fails_with_a_reason_and_keeps_the_original(
    tmp_path: Path, publisher: str
) -> None:
    code, lesson_id, errors = _add_with_errors(make_not_media(tmp_path / "notes.mp4"), "--wait")
    assert code == 1
    assert "无法识别的媒体文件" in errors  # told in the operator's language
    shown = _show(lesson_id)
    assert shown["status"] == "failed"
    assert shown["error"] == REASONS["not_media"]  # stored in English, translated when shown
    assert _job(lesson_id).attempts == 1  # a bad source is not tried again
    assert list(get_store().list(f"lessons/{lesson_id}/")) == []  # nothing published
    assert get_store().exists(_source_key(lesson_id))  # the original is kept


def test_oversized_file_is_refused_by_the_cli(
    tmp_path: Path, publisher: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings

    monkeypatch.setattr(get_settings(), "max_upload_bytes", 10)
    clip = make_clip(tmp_path / "big.mp4", seconds=1)
    result = runner.invoke(cli, ["lessons", "add", str(clip), "--course", "党课", "--title", "x"])
    assert result.exit_code == 1 and "的上限" in result.output


def _wait_for(predicate, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def _job(lesson_id: int) -> Job:
    with session_scope() as session:
        lesson = session.get_one(Lesson, lesson_id)
        return session.get_one(Job, lesson.job_id)


@pytest.fixture
def worker_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def test_killed_worker_job_is_retried_and_finishes(
    tmp_path: Path, home: Path, publisher: str, worker_processes: list
) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=40, width=854, height=480)
    code, lesson_id = _add(clip)
    assert code == 0
    first = subprocess.Popen([YUANJIAO, "worker"], env=os.environ.copy())
    worker_processes.append(first)
    _wait_for(
        lambda: _job(lesson_id).status is JobStatus.running and _job(lesson_id).progress > 0.05
    )
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert _job(lesson_id).status is JobStatus.running  # nobody told the database
    work_dir = str(home / "work" / f"job-{_job(lesson_id).id}")
    _wait_for(lambda: not _processes_using(work_dir), timeout=10)  # its ffmpeg died with it
    second = subprocess.Popen([YUANJIAO, "worker"], env=os.environ.copy())
    worker_processes.append(second)
    _wait_for(lambda: _job(lesson_id).status in (JobStatus.done, JobStatus.failed), timeout=180)
    assert _job(lesson_id).attempts == 2
    assert _show(lesson_id)["status"] == "ready"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("command", "exit_code"),
    # uvicorn ends by raising the signal it caught again, once it has shut down cleanly
    [(["worker"], 0), (["run", "--no-demo"], -signal.SIGTERM)],
    ids=["worker", "run"],
)
def test_sigterm_stops_mid_transcode_and_gives_the_job_back(
    tmp_path: Path,
    home: Path,
    publisher: str,
    worker_processes: list,
    command: list[str],
    exit_code: int,
) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=40, width=854, height=480)
    code, lesson_id = _add(clip)
    assert code == 0
    if command[0] == "run":
        command = [*command, "--port", str(_free_port())]
    first = subprocess.Popen([YUANJIAO, *command], env=os.environ.copy())
    worker_processes.append(first)
    _wait_for(
        lambda: _job(lesson_id).status is JobStatus.running and _job(lesson_id).progress > 0.05
    )
    asked = time.monotonic()
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == exit_code
    assert time.monotonic() - asked < 10
    job = _job(lesson_id)
    assert (job.status, job.attempts) == (JobStatus.queued, 1)  # given back, not left running
    assert not _processes_using(str(home / "work" / f"job-{job.id}"))  # its ffmpeg stopped too
    second = subprocess.Popen([YUANJIAO, "worker"], env=os.environ.copy())
    worker_processes.append(second)
    _wait_for(lambda: _job(lesson_id).status in (JobStatus.done, JobStatus.failed), timeout=180)
    assert _job(lesson_id).attempts == 2
    assert _show(lesson_id)["status"] == "ready"


def _raw_get(app: Any, raw_path: str, cookie: str) -> tuple[int, bytes]:
    """GET `raw_path` straight through the ASGI app, decoded as a server decodes it (percent
    escapes undone, dot segments kept); returns the status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(sent[0]["status"]), body


def _processes_using(fragment: str) -> list[int]:
    """Pids of running processes whose command line mentions `fragment`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and fragment.encode() in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture
def ready_lesson(tmp_path: Path, publisher: str) -> int:
    clip = make_clip(tmp_path / "lesson.mp4", seconds=5, width=854, height=480)
    code, lesson_id = _add(clip, "--wait")
    assert code == 0
    return lesson_id


def test_hls_is_served_with_ranges_to_members_only(ready_lesson: int) -> None:
    with TestClient(create_app()) as client:
        master_url = f"/media/lessons/{ready_lesson}/hls/master.m3u8"
        assert client.get(master_url).status_code == 404  # anonymous: course is org-only
        log_in(client, "outsider")
        assert client.get(master_url).status_code == 404
        client.post("/logout", data={"csrf_token": csrf_token(client)})
        log_in(client, "member")
        master = client.get(master_url)
        assert master.status_code == 200
        assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        assert "480p/index.m3u8" in master.text and "BANDWIDTH=" in master.text
        variant = client.get(f"/media/lessons/{ready_lesson}/hls/480p/index.m3u8").text
        signed = next(line for line in variant.splitlines() if ".m4s?" in line)
        assert signed.startswith(f"/media/o/lessons/{ready_lesson}/hls/480p/seg_00001.m4s?e=")
        # signed with the key derived for media links, not with the master secret
        path, _, query = signed.partition("?")
        params = dict(pair.split("=", 1) for pair in query.split("&"))
        key, expires = unquote(path.removeprefix("/media/o/")), int(params["e"])
        check_signature(key, expires, params["s"], secret=signing_key("media-link"))
        with pytest.raises(NotFound):
            master_key = get_settings().secret_key.encode()
            check_signature(key, expires, params["s"], secret=master_key)
        url = f"/media/lessons/{ready_lesson}/hls/480p/seg_00001.m4s"
        whole = client.get(url)
        assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
        part = client.get(url, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == whole.content[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(whole.content)}"
        assert client.get(url, headers={"Range": "bytes=999999999-"}).status_code == 416
        # the signed link works without any session, and only as signed
        with TestClient(create_app()) as anonymous:
            assert anonymous.get(signed).content == whole.content
            tail = anonymous.get(signed, headers={"Range": "bytes=-5"})
            assert tail.status_code == 206 and tail.content == whole.content[-5:]
            forged = signed.replace("seg_00001", "seg_00002")
            assert anonymous.get(forged).status_code == 404
            expired = signed.split("?e=")[0] + "?e=1&s=" + signed.split("&s=")[1]
            assert anonymous.get(expired).status_code == 404
        # the raw path reaches the app as a client sent it (an HTTP client would drop the ../)
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        playlist = f"/media/lessons/{ready_lesson}/hls/480p/index.m3u8"
        assert _raw_get(client.app, playlist, cookie)[0] == 200  # the raw request works
        source_key = _source_key(ready_lesson)
        for raw in (
            f"/media/lessons/{ready_lesson}/hls/../../../{source_key}",
            f"/media/lessons/{ready_lesson}/hls/480p/../../../../{source_key}",
            f"/media/lessons/{ready_lesson}/hls/%2e%2e/%2e%2e/%2e%2e/{source_key}",
            f"/media/lessons/{ready_lesson}/hls/..%2F..%2F..%2F{source_key}",
            f"/media/lessons/{ready_lesson}/hls/../poster.jpg",
        ):
            status, body = _raw_get(client.app, raw, cookie)
            assert status == 404, raw
            assert body != get_store().get_bytes(source_key)
        assert client.get(f"/media/lessons/{ready_lesson}/poster.jpg").status_code == 200


def test_a_source_over_2_gib_is_ingested_with_its_64_bit_size(
    tmp_path: Path, publisher: str
) -> None:
    """Sizes past 2**31 fit the columns on every engine (PostgreSQL's integer would not) and
    the store copies the whole file. A sparse file stands in for a long recording; it is not
    transcoded."""
    size = 2**31 + 4097
    source = tmp_path / "long.mp4"
    with open(source, "wb") as sparse:
        sparse.truncate(size)
        sparse.seek(size - 5)
        sparse.write(b"tail!")
    code, lesson_id = _add(source)
    assert code == 0
    with session_scope() as session:
        lesson = session.get_one(Lesson, lesson_id)
        assert lesson.source_size == size
        source_key = lesson.source_key
    store = get_store()
    assert store.stat(source_key).size == size
    assert b"".join(store.open_range(source_key, size - 5)) == b"tail!"


def test_a_source_copy_no_lesson_points_to_is_swept_once_old(
    tmp_path: Path, publisher: str, home: Path
) -> None:
    """A crash between the copy and the commit leaves a copy behind; the sweep removes it, and
    only it, once no ingest can still be about to commit it."""
    _code, lesson_id = _add(make_clip(tmp_path / "kept.mp4", seconds=1))
    store = get_store()
    used, orphan, fresh = _source_key(lesson_id), "sources/crashed/a.mp4", "sources/copying/b.mp4"
    store.put_bytes(orphan, b"left by a crash")
    store.put_bytes(fresh, b"an ingest about to commit")
    three_days_ago = time.time() - 3 * 24 * 3600
    for key in (used, orphan):
        os.utime(home / "objects" / key, (three_days_ago, three_days_ago))
    assert sweep_unused_sources(store=store, older_than=timedelta(days=2)) == 1
    assert not store.exists(orphan)
    assert store.exists(used) and store.exists(fresh)
