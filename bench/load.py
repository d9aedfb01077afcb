"""Load benchmark: N viewers at real-time pace, 3 uploads, and a kill -9 in the middle; prints
`viewers=N failed=F seg_p99_ms=S save_p99_ms=P uploads_ready=U/3 recovered_s=R seg_p99_vs_idle=X`.

One run sets up a throw-away YUANJIAO_HOME with a transcoded 60 s lesson, starts `yuanjiao run`
(web and worker in one process: the embedded default) and then, all bounded in time:

- first, one player alone fetches segments: the idle baseline for `seg_p99_vs_idle`;
- N viewers, started over the first few seconds, each play the lesson at real-time pace: the
  master and a rung playlist, then a segment every segment length (2 s) and a position save
  every 10 s, for `--seconds`. Like a player they retry a request that gets no answer (or a
  5xx), backing off from 0.5 s to 4 s, for up to 30 s; one that still has none then, or gets a
  4xx, counts as failed;
- 3 tus uploads (1 MiB chunks, like tus-js-client, resumed after an error) finish and transcode
  meanwhile; the last is still sending when the server is killed;
- halfway, the server is killed with SIGKILL and started again at once: `recovered_s` is the time
  from the kill until the new process answers /healthz.

Latencies are those of answered attempts (time lost to the outage shows in `recovered_s` and in
`failed`). An upload is ready when its lesson is published and the stored source is byte for
byte the uploaded file. Targets on the embedded default, 2 cores: 300 viewers, F = 0, S and
P <= 500, 3/3, R <= 10. `--database-url postgresql+psycopg://... --queue-url redis://...` (or the
environment variables YUANJIAO_BENCH_DATABASE_URL and YUANJIAO_BENCH_QUEUE_URL) runs the same on
PostgreSQL and Redis (the database must be empty; it is left with the bench's data).
The job stale time is 15 s here (default 120 s), so a transcode killed with the server is
taken up again within the run.

Run with `make bench` or `.venv/bin/python bench/load.py --viewers 300`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.media lives in the checkout
from courseware.transcode.ladder import SEGMENT_SECONDS  # noqa: E402
from tests.media import make_clip  # noqa: E402

T = TypeVar("T")
YUANJIAO = Path(sys.executable).with_name("yuanjiao")
PASSWORD = "bench-load-password-9"
MEMBERS = 10  # viewers share these logins (several people per terminal, as in a village room)
SEGMENT_EVERY = float(SEGMENT_SECONDS)  # real time: one segment per segment length
SAVE_EVERY = 10.0
RETRY_FOR = 30.0  # how long a player keeps trying one request
RETRY_PAUSE = 0.5  # then doubled up to RETRY_PAUSE_MAX, with jitter, as hls.js backs off
RETRY_PAUSE_MAX = 4.0
CHUNK = 1024 * 1024
UPLOADS = 3
READY_WITHIN = 600.0  # seconds after the load for the uploads' lessons to be published
START_TIMEOUT = 60.0
TUS = {"Tus-Resumable": "1.0.0"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


# --- set-up ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """What the set-up made: the lesson to watch, the org for uploads."""

    lesson_id: int
    org_id: int


def set_up(home: Path, seconds: float) -> World:
    """Schema, an org with a publisher and members, and one transcoded lesson (in-process)."""
    import courseware.tasks  # noqa: F401  (registers the transcode job)
    from core.db import session_scope
    from core.jobs import execute_job
    from core.migrate import upgrade_database
    from core.people.models import OrgKind, Role
    from core.people.service import create_org, create_user, grant_role
    from core.storage import get_store
    from courseware.ingest import ingest_lesson
    from courseware.models import Course
    from courseware.service import create_course

    upgrade_database()
    with session_scope() as session:
        org = create_org(session=session, name="基准区委", kind=OrgKind.district)
        publisher = create_user(session=session, login="publisher", password=PASSWORD)
        grant_role(session=session, user=publisher, role=Role.publisher, org_id=org.id)
        for n in range(MEMBERS):
            member = create_user(session=session, login=f"member{n}", password=PASSWORD)
            grant_role(session=session, user=member, role=Role.member, org_id=org.id)
        course = create_course(session=session, user=publisher, title="基准课程", org_id=org.id)
        org_id, course_id, publisher_id = org.id, course.id, publisher.id
    clip = make_clip(home / "lesson.mp4", seconds=seconds, width=854, height=480)
    lesson = ingest_lesson(
        store=get_store(),
        user_id=publisher_id,
        course=lambda session, _user: session.get_one(Course, course_id),
        title="基准",
        source=clip,
        filename=clip.name,
        enqueue_job=False,
    )
    assert lesson.job_id is not None
    outcome = execute_job(lesson.job_id)
    if outcome.status is None or outcome.status.value != "done":
        raise SystemExit(f"the benchmark lesson did not transcode: {outcome}")
    return World(lesson_id=lesson.id, org_id=org_id)


def check_empty_database() -> None:
    """Refuse to run on a database that holds data (the bench adds its own)."""
    from sqlalchemy import inspect

    from core.db import get_engine

    tables = inspect(get_engine()).get_table_names()
    if tables:
        raise SystemExit(f"the database is not empty ({len(tables)} tables): give an empty one")


def stored_source(upload_id: str) -> tuple[str, bytes] | None:
    """The status and stored source bytes of the lesson an upload became, if any."""
    from sqlalchemy import select

    from core.db import session_scope
    from core.storage import get_store
    from courseware.models import Lesson

    with session_scope() as session:
        lesson = session.scalar(select(Lesson).where(Lesson.upload_id == upload_id))
        if lesson is None:
            return None
        return lesson.status.value, get_store().get_bytes(lesson.source_key)


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """`yuanjiao run --no-demo` on one port, restartable after a kill."""

    def __init__(self, home: Path, port: int, env: dict[str, str]) -> None:
        self.home, self.port, self.env = home, port, env
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.cpu_before = 0.0  # CPU seconds of processes killed earlier, and their transcodes

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU time of the server processes so far: (web and worker, their ffmpeg children)."""
        own, children = 0.0, 0.0
        if self.process is not None and self.process.poll() is None:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            children = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
        return own + self.cpu_before, children

    def start(self) -> None:
        self.starts += 1
        log = open(self.home / f"server-{self.starts}.log", "wb")  # noqa: SIM115 - kept open
        self.process = subprocess.Popen(
            [str(YUANJIAO), "run", "--no-demo", "--port", str(self.port)],
            env=self.env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        assert self.process is not None
        self.cpu_before = self.cpu_seconds()[0]
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    async def healthy(self, timeout: float = START_TIMEOUT) -> float:
        """Wait until /healthz answers 200; returns how long that took."""
        began = time.monotonic()
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() - began < timeout:
                assert self.process is not None
                if self.process.poll() is not None:
                    break
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return time.monotonic() - began
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        log = (self.home / f"server-{self.starts}.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"the server did not come up:\n{log}")


# --- clients -----------------------------------------------------------------------------------


@dataclass
class Meter:
    """Latencies of answered attempts by kind, and requests that failed for good."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    timeline: list[tuple[float, str, float]] = field(default_factory=list)  # (when, kind, s)
    failures: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    load_seconds: float = 1.0
    killed_at: float = 0.0
    healthy_at: float = 0.0
    server_cpu_at_start: float = 0.0
    server_cpu: float = 0.0
    own_cpu_at_start: float = 0.0
    own_cpu: float = 0.0

    def answered(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        self.timeline.append((time.monotonic(), kind, seconds))

    def p99_between(self, kind: str, start: float, end: float) -> tuple[float, int]:
        """p99 in ms, and the count, of answers of `kind` that came between start and end."""
        values = sorted(s for when, k, s in self.timeline if k == kind and start <= when < end)
        if not values:
            return 0.0, 0
        return 1000 * values[min(int(len(values) * 0.99), len(values) - 1)], len(values)

    def failed(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1

    def p99_ms(self, kind: str, fraction: float = 0.99) -> float:
        """The `fraction` percentile (p99 by default) of answered attempts of `kind`, in ms."""
        values = sorted(self.latencies.get(kind, [0.0]))
        return 1000 * values[min(int(len(values) * fraction), len(values) - 1)]


def new_client(base_url: str, connections: int) -> httpx.AsyncClient:
    """An HTTP client that, like a browser, keeps connections only while the server does."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=RETRY_FOR,
        limits=httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=3
        ),
    )


async def attempt(
    client: httpx.AsyncClient, meter: Meter, kind: str, method: str, url: str, **kwargs: object
) -> httpx.Response | None:
    """One request as a player makes it: retried with backoff on no answer or a 5xx for up to
    RETRY_FOR seconds; None (and counted failed) if it never succeeds or is refused with a 4xx."""
    deadline = time.monotonic() + RETRY_FOR
    tries = 0
    while True:
        began = time.monotonic()
        try:
            response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
            if response.status_code < 400:
                meter.answered(kind, time.monotonic() - began)
                return response
            if response.status_code < 500:
                meter.failed(kind)
                return None
        except httpx.HTTPError:
            pass
        pause = min(RETRY_PAUSE * 2**tries, RETRY_PAUSE_MAX) * random.uniform(0.75, 1.25)
        if time.monotonic() + pause > deadline:
            meter.failed(kind)
            return None
        meter.retries += 1
        tries += 1
        await asyncio.sleep(pause)


async def log_in(client: httpx.AsyncClient, login: str) -> str:
    """Log in through the form; returns the session's CSRF token."""
    token = CSRF.search((await client.get("/login")).text)
    assert token is not None
    response = await client.post(
        "/login",
        data={"login": login, "password": PASSWORD, "csrf_token": token.group(1), "next": "/"},
    )
    if response.status_code != 303:
        raise SystemExit(f"login as {login} failed: {response.status_code}")
    page = CSRF.search((await client.get("/")).text)
    assert page is not None
    return page.group(1)


async def watch(
    client: httpx.AsyncClient, token: str, lesson_id: int, until: float, meter: Meter, n: int
) -> None:
    """One viewer at real-time pace: playlists, a segment per segment length, a save every 10 s."""
    hls = f"/media/lessons/{lesson_id}/hls"
    if await attempt(client, meter, "playlist", "GET", f"{hls}/master.m3u8") is None:
        return
    rung = await attempt(client, meter, "playlist", "GET", f"{hls}/480p/index.m3u8")
    if rung is None:
        return
    segments = [line for line in rung.text.splitlines() if line and not line.startswith("#")]
    index = n % len(segments)
    now = time.monotonic()
    next_segment, next_save = now, now + random.uniform(0, SAVE_EVERY)
    while True:
        due = min(next_segment, next_save)
        if due >= until:
            return
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if next_segment <= next_save:
            await attempt(client, meter, "segment", "GET", segments[index % len(segments)])
            index += 1
            next_segment = max(next_segment + SEGMENT_EVERY, time.monotonic())
        else:
            body = {"seconds": float(index * SEGMENT_SECONDS % 60)}
            headers = {"X-CSRF-Token": token}
            await attempt(
                client, meter, "save", "PUT", f"/api/lessons/{lesson_id}/position",
                json=body, headers=headers,
            )  # fmt: skip
            next_save = max(next_save + SAVE_EVERY, time.monotonic())


async def idle_baseline(base_url: str, lesson_id: int, count: int) -> float:
    """p99 of segment fetches by one player alone on the server, in ms."""
    meter = Meter()
    async with new_client(base_url, 2) as client:
        token = await log_in(client, "member0")
        del token
        rung = await attempt(
            client, meter, "playlist", "GET", f"/media/lessons/{lesson_id}/hls/480p/index.m3u8"
        )
        assert rung is not None
        segments = [line for line in rung.text.splitlines() if line and not line.startswith("#")]
        for n in range(count):
            await attempt(client, meter, "segment", "GET", segments[n % len(segments)])
    return meter.p99_ms("segment")


@dataclass
class Upload:
    """One tus upload, sent like tus-js-client sends it."""

    path: Path
    title: str
    upload_id: str | None = None
    lesson_id: int | None = None
    state: str = "not started"


async def send_upload(
    client: httpx.AsyncClient, token: str, org_id: int, upload: Upload, pace: float, meter: Meter
) -> None:
    """Create, send 1 MiB chunks (resuming from the server's offset after an error), ask for
    the lesson (which completes the upload if that failed), then follow it until published."""
    data = upload.path.read_bytes()
    meta = {
        "filename": upload.path.name,
        "filetype": "video/mp4",
        "title": upload.title,
        "course_title": "基准上传",
        "org_id": str(org_id),
    }
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
    headers = {**TUS, "X-CSRF-Token": token}
    created = await attempt(
        client, meter, "upload", "POST", "/api/uploads",
        headers={**headers, "Upload-Length": str(len(data)), "Upload-Metadata": encoded},
    )  # fmt: skip
    if created is None:
        upload.state = "not created"
        return
    location = created.headers["location"]
    upload.upload_id = location.rstrip("/").split("/")[-1]
    upload.state = "sending"
    offset = 0
    deadline = time.monotonic() + READY_WITHIN
    while offset < len(data) and time.monotonic() < deadline:
        try:
            response = await client.patch(
                location,
                content=data[offset : offset + CHUNK],
                headers={
                    **headers,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            if response.status_code == 204:
                offset = int(response.headers["upload-offset"])
                await asyncio.sleep(pace)
                continue
            if response.status_code < 500 and response.status_code != 409:
                upload.state = f"refused {response.status_code}"
                return
        except httpx.HTTPError:
            pass
        meter.retries += 1
        await asyncio.sleep(RETRY_PAUSE)
        head = await attempt(client, meter, "upload", "HEAD", location, headers=headers)
        if head is None:
            upload.state = "lost"
            return
        offset = int(head.headers["upload-offset"])
    upload.state = "completing"
    while time.monotonic() < deadline:
        lesson = await attempt(client, meter, "upload", "GET", f"/api/uploads/{upload.upload_id}")
        if lesson is not None:
            upload.lesson_id = lesson.json()["id"]
            break
    upload.state = "transcoding"
    while time.monotonic() < deadline:
        shown = await attempt(client, meter, "upload", "GET", f"/api/lessons/{upload.lesson_id}")
        status = shown.json()["status"] if shown is not None else "unknown"
        if status in ("ready", "failed"):
            upload.state = status
            return
        await asyncio.sleep(2)
    upload.state = "not ready in time"


async def run_load(
    server: Server, world: World, viewers: int, seconds: float, kill_at: float, clips: list[Path]
) -> tuple[Meter, float, float, list[Upload]]:
    """The whole scenario; returns the meter, the idle p99, the recovery time and the uploads."""
    idle_p99 = await idle_baseline(server.url, world.lesson_id, 60)
    meter = Meter()
    per_member = -(-viewers // MEMBERS)
    clients = [new_client(server.url, per_member + 2) for _ in range(MEMBERS)]
    uploader = new_client(server.url, 4)
    try:
        tokens = [await log_in(client, f"member{n}") for n, client in enumerate(clients)]
        upload_token = await log_in(uploader, "publisher")
        began = time.monotonic()
        meter.server_cpu_at_start = server.cpu_seconds()[0]
        meter.own_cpu_at_start = time.process_time()
        until = began + seconds
        killed_at = began + kill_at * seconds
        uploads = [Upload(path, f"上传{n + 1}") for n, path in enumerate(clips)]

        async def viewer(n: int) -> None:
            await asyncio.sleep(random.uniform(0, min(8.0, seconds / 4)))
            member = n % MEMBERS
            await watch(clients[member], tokens[member], world.lesson_id, until, meter, n)

        async def uploading(n: int, upload: Upload) -> None:
            # the first two finish before the kill; the last is sending across it
            starts = (killed_at - 25, killed_at - 15, killed_at - 2)[n]
            await asyncio.sleep(max(0.0, starts - time.monotonic()))
            pace = 0.0 if n < 2 else 0.4
            await send_upload(uploader, upload_token, world.org_id, upload, pace, meter)

        async def kill_and_restart() -> float:
            await asyncio.sleep(max(0.0, killed_at - time.monotonic()))
            server.kill()
            began_recovery = meter.killed_at = time.monotonic()
            server.start()
            await server.healthy()
            meter.healthy_at = time.monotonic()
            return meter.healthy_at - began_recovery

        recovery = asyncio.create_task(kill_and_restart())
        sending = [asyncio.create_task(uploading(n, u)) for n, u in enumerate(uploads)]
        await asyncio.gather(*(viewer(n) for n in range(viewers)))
        meter.load_seconds = time.monotonic() - began
        meter.server_cpu = server.cpu_seconds()[0] - meter.server_cpu_at_start
        meter.own_cpu = time.process_time() - meter.own_cpu_at_start
        recovered = await recovery
        await asyncio.gather(*sending)
        return meter, idle_p99, recovered, uploads
    finally:
        for client in [*clients, uploader]:
            await client.aclose()


def run_async(coroutine: Coroutine[None, None, T]) -> T:
    """Run on uvloop when it is installed (it is, with uvicorn[standard]): a lighter client."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    """Set up, run the scenario, check the uploads, print the figures last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=300, help="concurrent viewers")
    parser.add_argument("--seconds", type=float, default=90.0, help="how long the viewers watch")
    parser.add_argument("--kill-at", type=float, default=0.5, help="kill -9 at this fraction")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("YUANJIAO_BENCH_DATABASE_URL", ""),
        help="an empty database (default: SQLite in a new home; or YUANJIAO_BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--queue-url",
        default=os.environ.get("YUANJIAO_BENCH_QUEUE_URL", ""),
        help="the queue (default: SQLite; or YUANJIAO_BENCH_QUEUE_URL)",
    )
    args = parser.parse_args()
    if args.viewers < 1 or args.seconds < 40 or not 0.3 <= args.kill_at <= 0.8:
        parser.error("--viewers >= 1, --seconds >= 40, --kill-at between 0.3 and 0.8")

    home = Path(tempfile.mkdtemp(prefix="yuanjiao-bench-load-")).resolve()
    for name in ("YUANJIAO_DATABASE_URL", "YUANJIAO_STORAGE_URL", "YUANJIAO_QUEUE_URL"):
        os.environ.pop(name, None)
    os.environ["YUANJIAO_HOME"] = str(home)
    os.environ["YUANJIAO_JOB_STALE_SECONDS"] = "15"
    if args.database_url:
        os.environ["YUANJIAO_DATABASE_URL"] = args.database_url
        # an external database is no single embedded node: its keys are given, never generated
        for key in ("YUANJIAO_SECRET_KEY", "YUANJIAO_ID_HASH_KEY"):
            os.environ.setdefault(key, secrets.token_urlsafe(32))
    if args.queue_url:
        os.environ["YUANJIAO_QUEUE_URL"] = args.queue_url
    env = dict(os.environ)
    os.chdir(home)  # so no stray .env file changes the settings
    if args.database_url:
        check_empty_database()
    world = set_up(home, seconds=60)
    clips = [
        make_clip(home / f"upload-{n}.mp4", seconds=12 + 4 * n, width=854, height=480)
        for n in range(UPLOADS)
    ]
    server = Server(home, free_port(), env)
    load_before = os.getloadavg()[0]
    server.start()
    try:
        run_async(server.healthy())
        meter, idle_p99, recovered, uploads = run_async(
            run_load(server, world, args.viewers, args.seconds, args.kill_at, clips)
        )
    finally:
        server.stop()
    ready = 0
    for upload in uploads:
        stored = stored_source(upload.upload_id) if upload.upload_id else None
        same = stored is not None and stored[1] == upload.path.read_bytes()
        if upload.state == "ready" and stored is not None and stored[0] == "ready" and same:
            ready += 1
        else:
            print(f"upload {upload.title}: {upload.state}, source identical: {same}")
    failed = sum(meter.failures.values())
    for kind in ("playlist", "segment", "save", "upload"):
        answered = meter.latencies.get(kind, [])
        print(
            f"{kind:8} answered {len(answered):6}  p95 {meter.p99_ms(kind, 0.95):6.0f} ms"
            f"  p99 {meter.p99_ms(kind):6.0f} ms"
            f"  failed {meter.failures.get(kind, 0)}"
        )
    for kind in ("segment", "save"):
        windows = (
            ("before the kill", 0.0, meter.killed_at),
            ("20 s after the restart", meter.healthy_at, meter.healthy_at + 20),
            ("later", meter.healthy_at + 20, float("inf")),
        )
        parts = []
        for label, start, end in windows:
            p99, count = meter.p99_between(kind, start, end)
            parts.append(f"{label} {p99:.0f} ms ({count})")
        print(f"{kind} p99: " + ", ".join(parts))
    answered = sum(len(values) for values in meter.latencies.values())
    print(
        f"server {meter.server_cpu / meter.load_seconds:.0%} of a core"
        f" ({1000 * meter.server_cpu / max(answered, 1):.1f} ms per request, transcodes apart),"
        f" load generator {meter.own_cpu / meter.load_seconds:.0%};"
        f" machine load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(f"retried attempts: {meter.retries}; server log and data: {home}")
    seg_p99 = meter.p99_ms("segment")
    print(
        f"viewers={args.viewers} failed={failed} seg_p99_ms={seg_p99:.0f}"
        f" save_p99_ms={meter.p99_ms('save'):.0f} uploads_ready={ready}/{UPLOADS}"
        f" recovered_s={recovered:.1f} seg_p99_vs_idle={seg_p99 / max(idle_p99, 0.1):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
