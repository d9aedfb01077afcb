"""A real server under load never locks up: more clients than threads and pooled connections
get every answer, /healthz stays quick, the server recovers when the load stops, SIGTERM stops
it in time, and signed media links and static files are served while every database thread is
stuck.

The server runs with a pool of 2 database connections and no overflow, so a request that held a
connection while it waited for a worker thread (the old lock-up: 39 of 40 threads waiting for one
of 15 connections) would stall it here within seconds.
"""

import asyncio
import base64
import json
import re
import signal
import sqlite3
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.db import get_engine, session_scope
from core.people.models import Role
from core.storage import get_store
from courseware.models import Lesson
from courseware.service import create_course
from courseware.uploads import upload_dir
from tests.factories import PASSWORD, make_tree, make_user
from tests.media import make_clip
from tests.server import Server, running_server
from web.cli import app as cli

SMALL_POOL = {"YUANJIAO_DATABASE_POOL_SIZE": "2", "YUANJIAO_DATABASE_MAX_OVERFLOW": "0"}
CLIENTS = 120  # more than the 40 worker threads and 2 connections together
LOAD_SECONDS = 8.0
REQUEST_TIMEOUT = 30.0


@pytest.fixture
def lesson_id(session: Session, tmp_path: Path) -> int:
    """A ready lesson in a course the member's branch sees."""
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.platform_admin, tree.district)
    make_user(session, "member", Role.member, tree.branch)
    create_course(
        session=session,
        user=publisher,
        title="党课",
        org_id=tree.town.id,
    )
    session.commit()
    clip = make_clip(tmp_path / "lesson.mp4", seconds=8, width=854, height=480)
    result = CliRunner().invoke(
        cli, ["lessons", "add", str(clip), "--course", "党课", "--title", "一", "--wait"]
    )
    assert result.exit_code == 0, result.output
    return int(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def server(tmp_path: Path, lesson_id: int) -> Iterator[Server]:
    with running_server(tmp_path, env=SMALL_POOL) as started:
        yield started


async def _log_in(client: httpx.AsyncClient, login: str = "member") -> str:
    """Log a user in; returns the session's CSRF token."""
    page = (await client.get("/login")).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token is not None
    response = await client.post(
        "/login",
        data={"login": login, "password": PASSWORD, "csrf_token": token.group(1), "next": "/"},
    )
    assert response.status_code == 303, response.text
    page = (await client.get("/")).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token is not None
    return token.group(1)


@dataclass
class Tally:
    """What the clients saw: each answer's status (or error name) and how long it took."""

    answers: list[tuple[str, str, float]] = field(default_factory=list)

    def failures(self) -> list[tuple[str, str, float]]:
        return [a for a in self.answers if a[1] not in ("200", "204")]


async def _viewer(
    client: httpx.AsyncClient, lesson: int, token: str, until: float, tally: Tally, n: int
) -> None:
    """One viewer: the lesson page, its playlists, a position save, over and over."""
    steps = [
        ("page", "GET", f"/lessons/{lesson}", None),
        ("master", "GET", f"/media/lessons/{lesson}/hls/master.m3u8", None),
        ("rung", "GET", f"/media/lessons/{lesson}/hls/480p/index.m3u8", None),
        ("save", "PUT", f"/api/lessons/{lesson}/position", {"seconds": float(n % 8)}),
    ]
    while time.monotonic() < until:
        for kind, method, url, body in steps:
            started = time.monotonic()
            try:
                response = await client.request(
                    method, url, json=body, headers={"X-CSRF-Token": token}
                )
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            tally.answers.append((kind, status, time.monotonic() - started))


async def _probe_health(client: httpx.AsyncClient, until: float, latencies: list[float]) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        response = await client.get("/healthz")
        assert response.status_code == 200
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.25)


def _client(server: Server, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        timeout=REQUEST_TIMEOUT,
        # idle connections are dropped before uvicorn's 5 s keep-alive ends, so a request never
        # goes out on a connection the server is closing at that moment
        limits=httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2
        ),
    )


async def _hammer(server: Server, lesson: int) -> tuple[Tally, list[float], list[float]]:
    tally, health, after = Tally(), [], []
    async with _client(server, CLIENTS) as client, _client(server, 2) as prober:
        token = await _log_in(client)
        until = time.monotonic() + LOAD_SECONDS
        await asyncio.gather(
            *(_viewer(client, lesson, token, until, tally, n) for n in range(CLIENTS)),
            _probe_health(prober, until, health),
        )
        # the load has stopped: the server is itself again at once
        await _probe_health(prober, time.monotonic() + 1.5, after)
    return tally, health, after


def test_many_viewers_never_lock_the_server_up(server: Server, lesson_id: int) -> None:
    tally, health, after = asyncio.run(_hammer(server, lesson_id))
    kinds = {kind for kind, _, _ in tally.answers}
    assert kinds == {"page", "master", "rung", "save"}
    assert len(tally.answers) > 4 * CLIENTS  # every viewer went round at least once
    assert tally.failures() == [], f"{len(tally.failures())} failed\n{server.log_tail()}"
    log = server.log.read_text(errors="replace")
    assert "QueuePool limit" not in log and "Exception in ASGI application" not in log
    # /healthz kept answering while every thread was busy, and is quick once the load is gone
    assert len(health) >= 5 and max(health) < 3.0, health
    assert statistics.median(after) < 0.25 and max(after) < 1.0, after


def test_sigterm_stops_the_server_in_time_while_requests_are_in_flight(
    server: Server, lesson_id: int
) -> None:
    async def load_then_stop() -> tuple[float, Tally]:
        tally = Tally()
        async with _client(server, CLIENTS) as client:
            token = await _log_in(client)
            until = time.monotonic() + 30
            viewers = [
                asyncio.create_task(_viewer(client, lesson_id, token, until, tally, n))
                for n in range(CLIENTS)
            ]
            await asyncio.sleep(2)  # requests in flight
            in_flight = len(tally.answers)
            server.process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            while server.process.poll() is None and time.monotonic() - started < 20:
                await asyncio.sleep(0.05)
            stopped_after = time.monotonic() - started
            for viewer in viewers:
                viewer.cancel()
            await asyncio.gather(*viewers, return_exceptions=True)
            assert in_flight > 0
            return stopped_after, tally

    stopped_after, _ = asyncio.run(load_then_stop())
    assert server.process.poll() is not None
    assert stopped_after < 10.0, stopped_after


class _DatabaseHeld:
    """Hold the database so that every request needing it waits (the SQLite write lock, or an
    exclusive lock on the tables the lesson page and position saves use on PostgreSQL)."""

    def __enter__(self) -> "_DatabaseHeld":
        engine = get_engine()
        if engine.dialect.name == "sqlite":
            self.sqlite = sqlite3.connect(engine.url.database or "", isolation_level=None)
            self.sqlite.execute("BEGIN EXCLUSIVE")
        else:
            self.connection = engine.connect()
            self.connection.execute(
                text("LOCK TABLE playback_positions, lessons IN ACCESS EXCLUSIVE MODE")
            )
        return self

    def __exit__(self, *_: object) -> None:
        if hasattr(self, "sqlite"):
            self.sqlite.execute("ROLLBACK")
            self.sqlite.close()
        else:
            self.connection.rollback()
            self.connection.close()


def test_signed_segments_never_wait_for_the_database(server: Server, lesson_id: int) -> None:
    """With the database held, position saves pile up on every worker thread and pooled
    connection; signed segment links and static files are still served at once, and all the
    saves go through once the database is free."""

    async def scenario() -> tuple[list[float], list[str]]:
        async with _client(server, CLIENTS) as client, _client(server, 2) as player:
            token = await _log_in(client)
            rung = await client.get(f"/media/lessons/{lesson_id}/hls/480p/index.m3u8")
            segments = [line for line in rung.text.splitlines() if line.startswith("/media/o/")]
            assert len(segments) >= 2
            with _DatabaseHeld():
                saves = [
                    asyncio.create_task(
                        client.put(
                            f"/api/lessons/{lesson_id}/position",
                            json={"seconds": 1.0},
                            headers={"X-CSRF-Token": token},
                        )
                    )
                    for _ in range(CLIENTS)
                ]
                await asyncio.sleep(1.5)  # every thread and connection is now taken
                assert not any(save.done() for save in saves)
                timings = []
                for url in [*segments, "/static/js/player.js", "/static/app.css"] * 5:
                    started = time.monotonic()
                    response = await player.get(url)  # a signed link needs no session
                    assert response.status_code == 200 and response.content
                    timings.append(time.monotonic() - started)
            statuses = [str((await save).status_code) for save in saves]
            return timings, statuses

    timings, statuses = asyncio.run(scenario())
    assert statistics.median(timings) < 0.2 and max(timings) < 1.0, timings
    assert set(statuses) == {"204"}, statuses


def test_health_stays_quick_while_a_1_gib_upload_completes(
    session: Session, tmp_path: Path
) -> None:
    """Completing an upload copies it into the store (and fsyncs it) off the event loop: /healthz
    answers in well under 100 ms meanwhile. The first 1 GiB − 1 MiB of the upload is laid in the
    staging file directly (sparse) instead of being sent; the last MiB is sent for real and its
    arrival runs the completion."""
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    size, tail = 1024**3, 1024**2

    async def scenario(server: Server) -> tuple[int, float, list[float]]:
        async with _client(server, 4) as client, _client(server, 2) as prober:
            token = await _log_in(client, "pub")
            meta = {
                "filename": "big.mp4",
                "filetype": "video/mp4",
                "course_title": "大文件",
                "org_id": str(tree.town.id),
            }
            created = await client.post(
                "/api/uploads",
                headers={
                    "Tus-Resumable": "1.0.0",
                    "X-CSRF-Token": token,
                    "Upload-Length": str(size),
                    "Upload-Metadata": ",".join(
                        f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items()
                    ),
                },
            )
            assert created.status_code == 201, created.text
            upload_id = created.headers["location"].rstrip("/").split("/")[-1]
            staged = upload_dir() / upload_id
            with open(staged, "r+b") as data:
                data.truncate(size - tail)
            info_path = staged.with_name(f"{upload_id}.info")
            info = json.loads(info_path.read_text())
            info["offset"] = size - tail
            info_path.write_text(json.dumps(info))

            last = asyncio.create_task(
                client.patch(
                    f"/api/uploads/{upload_id}",
                    content=b"\1" * tail,
                    headers={
                        "Tus-Resumable": "1.0.0",
                        "X-CSRF-Token": token,
                        "Upload-Offset": str(size - tail),
                        "Content-Type": "application/offset+octet-stream",
                    },
                )
            )
            started = time.monotonic()
            probes = []
            while not last.done():
                begun = time.monotonic()
                assert (await prober.get("/healthz")).status_code == 200
                probes.append(time.monotonic() - begun)
                await asyncio.sleep(0.05)
            return (await last).status_code, time.monotonic() - started, probes

    with running_server(tmp_path) as server:
        status, completion, probes = asyncio.run(scenario(server))
    assert status == 204
    assert completion > 0.5 and len(probes) >= 5, (completion, probes)  # probed throughout
    ninetieth = sorted(probes)[int(len(probes) * 0.9)]
    assert statistics.median(probes) < 0.1 and ninetieth < 0.1 and max(probes) < 1.0, probes
    with session_scope() as check:
        (lesson,) = check.scalars(select(Lesson)).all()
        assert lesson.source_size == size
    assert get_store().stat(lesson.source_key).size == size
