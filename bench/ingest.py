"""Study ingest benchmark: web-player beats and site agents' batched record uploads through
HTTP, each answered only once its transaction is committed, on the embedded default (SQLite,
WAL, synchronous=NORMAL) and on PostgreSQL.

For each engine, a throw-away database gets an org, one lesson, `--members` members with logins
of their own and `--agents` sites with an enrolled device each; `yuanjiao serve` (one uvicorn
process, as the product serves) is started; every member logs in and starts a playback session.
Then, each for `--seconds`:
- `--members` clients, one per member on its own keep-alive connection, send honest beats back
  to back (sequence numbers in order, the client clock, a few milliseconds of media per beat);
- then `--light` of them only, for half as long: latency below saturation;
- the same clients ask GET /healthz: the trivial endpoint (one database round trip), i.e. what
  uvicorn and the middleware cost per request on this machine in this run;
- `--agents` site agents upload batches of `--batch` interval records back to back.
After the server stops, plain bulk INSERTs of as many beat rows and as many record rows (one
multi-row INSERT through SQLAlchemy Core, no HTTP, no rules) give the baselines of the same run.

Prints per engine `beats_per_s=N p99_ms=M batch_records_per_s=K vs_bulk_insert=R`, R being the
uploaded records/s over the bulk INSERT's rows/s, followed by the same-run ratios (beats against
/healthz and against the bulk INSERT), the CPU the server and the load generator used (in cores),
and the load average; last the line for the embedded default. Run with
`.venv/bin/python bench/ingest.py` (add `--postgres URL` for another server; `--no-postgres` to
skip it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.harness
from bench.harness import (  # noqa: E402
    cpu_seconds,
    free_port,
    load_average,
    own_cpu_seconds,
    scratch_home,
    start_app,
    stop,
)

PASSWORD = "bench-password-9"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "yuanjiao_bench_ingest"


def set_up(members: int, agents: int = 0) -> tuple[int, list[str]]:
    """The org, lesson, member accounts and enrolled sites, written with the platform's own
    services; the lesson's id and the sites' device tokens."""
    from core.db import session_scope
    from core.migrate import upgrade_database
    from core.people.models import Member, OrgKind, Role, User
    from core.people.service import create_org, grant_role
    from core.security import hash_id_number, hash_password, id_check_digit, mask_id_number
    from core.settings import get_settings
    from courseware.models import Course, Lesson, LessonStatus, Visibility

    upgrade_database()
    key = get_settings().id_hash_key
    password_hash = hash_password(PASSWORD)
    with session_scope() as session:
        org = create_org(session=session, name="基准支部", kind=OrgKind.branch)
        course = Course(title="基准课程", org_id=org.id, visibility=Visibility.public)
        lesson = Lesson(
            course=course,
            title="基准课",
            status=LessonStatus.ready,
            source_key="lessons/bench/source.mp4",
            duration=3600.0,
            credit_hours=1.0,
        )
        session.add_all([course, lesson])
        for n in range(members):
            user = User(login=f"m{n}", display_name=f"m{n}", password_hash=password_hash)
            session.add(user)
            session.flush()
            grant_role(session=session, user=user, role=Role.member, org_id=org.id)
            first17 = f"1101051980010{n:04d}"
            number = first17 + id_check_digit(first17)
            session.add(
                Member(
                    org_id=org.id,
                    name=f"党员{n}",
                    id_number_hash=hash_id_number(number, key=key),
                    id_number_masked=mask_id_number(number),
                    user_id=user.id,
                )
            )
        session.flush()
        tokens = [enrol_site(session, org.id, n) for n in range(agents)]
        return lesson.id, tokens


def enrol_site(session: Any, org_id: int, n: int) -> str:
    """An approved site enrolled with a one-time code, as its agent would; the device token."""
    from datetime import timedelta

    from core.db import utcnow
    from terminals.sites.models import Site, SiteStatus
    from terminals.sites.service import generate_code, hash_code
    from terminals.sync.enrolment import enrol_device

    code = generate_code()
    site = Site(code=f"BENCH{n:04d}", name=f"基准站点{n}", org_id=org_id, tier="basic")
    site.status = SiteStatus.approved
    site.enrolment_code_hash = hash_code(code)
    site.enrolment_code_expires_at = utcnow() + timedelta(days=1)
    session.add(site)
    session.flush()
    _device, token = enrol_device(session=session, code=code, hostname=f"bench-{n}")
    return token


def bulk_insert_rate(rows: int) -> float:
    """Beat rows per second through one plain multi-row INSERT (no HTTP, no rules)."""
    from sqlalchemy import insert, select

    from core.db import session_scope, utcnow
    from terminals.evidence.models import PlaybackBeat, PlaybackSession

    with session_scope() as session:
        session_id = session.scalars(select(PlaybackSession.id).limit(1)).one()
    now = utcnow()
    values = [
        {
            "session_id": session_id,
            "seq": 10_000_000 + n,
            "received_at": now,
            "clock": 1.0,
            "event": "tick",
            "position": 1.0,
            "rate": 1.0,
            "visible": True,
            "intervals": [[0.0, 0.01]],
            "credited": [[0.0, 0.01]],
        }
        for n in range(rows)
    ]
    started = time.perf_counter()
    with session_scope() as session:
        session.execute(insert(PlaybackBeat), values)
    return rows / (time.perf_counter() - started)


# Intervals of one group session: a 90-minute session whose player reports every 10 s.
SESSION_INTERVALS = 540


def interval_record(agent_id: str, seq: int, lesson_id: int) -> dict[str, Any]:
    """One outbox record of a group session's played interval, as an agent uploads it; each
    agent's records belong to its own sessions, SESSION_INTERVALS to a session."""
    now = datetime.now(UTC).isoformat()
    session_id = uuid.uuid5(uuid.UUID(agent_id), str(seq // SESSION_INTERVALS))
    return {
        "uuid": str(uuid.uuid4()),
        "seq": seq,
        "kind": "interval",
        "occurred_at": now,
        "body": {
            "session_id": str(session_id),
            "lesson_id": lesson_id,
            "media_start": float(seq % 3000),
            "media_end": float(seq % 3000) + 10.0,
            "started_at": now,
            "rate": 1.0,
        },
    }


def bulk_insert_records_rate(rows: int, lesson_id: int) -> float:
    """Record rows per second through one plain multi-row INSERT of rows like the uploaded ones
    (digest and all, computed beforehand: no HTTP, no validation, no duplicate check)."""
    from sqlalchemy import insert, select

    from core.db import session_scope, utcnow
    from terminals.sites.models import SiteDevice
    from terminals.sync.models import SiteRecord
    from terminals.sync.records import typed_columns
    from terminals.sync.schemas import IntervalBody

    with session_scope() as session:
        device = session.scalars(select(SiteDevice).limit(1)).one()
        site_id, device_id = device.site_id, device.id
    agent, now = str(uuid.uuid4()), utcnow()
    values = []
    for seq in range(1, rows + 1):
        record = interval_record(agent, seq, lesson_id)
        values.append(
            {
                "uuid": record["uuid"],
                "site_id": site_id,
                "agent_id": agent,
                "seq": seq,
                "kind": record["kind"],
                "occurred_at": now,
                "received_at": now,
                "device_id": device_id,
                "body": record["body"],
                "digest": "0" * 64,
                "clock_offset_seconds": 0.0,
                "flag": None,
                **typed_columns(IntervalBody.model_validate(record["body"])),
            }
        )
    started = time.perf_counter()
    with session_scope() as session:
        session.execute(insert(SiteRecord), values)
    return rows / (time.perf_counter() - started)


class Client:
    """One member's browser: a keep-alive connection, its cookie, its playback session."""

    def __init__(self, port: int, login: str) -> None:
        self.port, self.login = port, login
        self.cookie = ""
        self.csrf = ""
        self.session_id = ""
        self.seq = 0
        self.issued = 0.0
        self.position = 0.0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """One request; a connection the server closed while idle is opened again once."""
        try:
            return await self._request(method, path, body, headers)
        except (asyncio.IncompleteReadError, ConnectionError):
            if self.writer is not None:
                self.writer.close()
            self.writer = None
            return await self._request(method, path, body, headers)

    async def _request(
        self, method: str, path: str, body: bytes, headers: dict[str, str] | None
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        if self.cookie:
            lines.append(f"Cookie: {self.cookie}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            if name.lower() == "set-cookie" and value.strip().startswith("yuanjiao_session="):
                self.cookie = value.strip().split(";", 1)[0]
        return status, await self.reader.readexactly(length)

    async def log_in(self, lesson_id: int) -> None:
        _status, page = await self.request("GET", "/login")
        self.csrf = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()  # type: ignore[union-attr]
        form = f"login={self.login}&password={PASSWORD}&csrf_token={self.csrf}&next=/"
        status, _ = await self.request(
            "POST", "/login", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 303, status
        _status, page = await self.request("GET", "/login")
        found = re.search(rb'name="csrf-token" content="([^"]+)"', page)
        assert found is not None
        self.csrf = found.group(1).decode()
        status, body = await self.request(
            "POST",
            "/api/study/sessions",
            json.dumps({"lesson_id": lesson_id}).encode(),
            {"Content-Type": "application/json", "X-CSRF-Token": self.csrf},
        )
        assert status == 201, body
        self.session_id = json.loads(body)["id"]
        self.issued = time.monotonic()

    def next_beat(self) -> bytes:
        self.seq += 1
        start = self.position
        self.position = min(3599.0, self.position + 0.005)
        return json.dumps(
            {
                "session_id": self.session_id,
                "seq": self.seq,
                "clock": round(time.monotonic() - self.issued, 3),
                "position": self.position,
                "rate": 1,
                "visible": True,
                "event": "tick",
                "intervals": [[round(start, 3), round(self.position, 3)]],
            }
        ).encode()


class Agent(Client):
    """One site's agent: a keep-alive connection, its device token, its outbox sequence."""

    def __init__(self, port: int, token: str, lesson_id: int, batch: int) -> None:
        super().__init__(port, "")
        self.token, self.lesson_id, self.batch = token, lesson_id, batch
        self.agent_id = str(uuid.uuid4())

    def next_batch(self) -> bytes:
        records = [
            interval_record(self.agent_id, self.seq + n, self.lesson_id)
            for n in range(1, self.batch + 1)
        ]
        self.seq += self.batch
        return json.dumps(
            {
                "agent_id": self.agent_id,
                "sent_at": datetime.now(UTC).isoformat(),
                "records": records,
            }
        ).encode()

    async def upload(self) -> None:
        status, body = await self.request(
            "POST",
            "/api/terminal/records",
            self.next_batch(),
            {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        if status != 200 or json.loads(body)["high_water"] != self.seq:
            raise SystemExit(f"records answered {status}: {body[:200]!r}")


async def hammer(clients: list[Client], seconds: float, make: str) -> tuple[int, list[float]]:
    """Every client sends requests back to back for `seconds`; answered count, latencies."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def one(client: Client) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            if isinstance(client, Agent):
                await client.upload()
                latencies.append(time.perf_counter() - started)
                continue
            if make == "beat":
                status, body = await client.request(
                    "POST",
                    "/api/study/beats",
                    client.next_beat(),
                    {"Content-Type": "text/plain;charset=UTF-8"},
                )
            else:
                status, body = await client.request("GET", "/healthz")
            if status != 200:
                raise SystemExit(f"{make} answered {status}: {body[:200]!r}")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one(client) for client in clients))
    return len(latencies), latencies


def p99_ms(latencies: list[float]) -> float:
    return 1000 * statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else 0.0


class Meter:
    """CPU time of the server and of this load generator over one phase, in cores."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.server, self.client, self.wall = 0.0, 0.0, 0.0

    def __enter__(self) -> Meter:
        self._start = (cpu_seconds(self.pid), own_cpu_seconds(), time.perf_counter())
        return self

    def __exit__(self, *_exc: object) -> None:
        server, client, wall = self._start
        self.wall = time.perf_counter() - wall
        self.server = (cpu_seconds(self.pid) - server) / self.wall
        self.client = (own_cpu_seconds() - client) / self.wall


async def measure(
    port: int, server_pid: int, lesson_id: int, tokens: list[str], args: argparse.Namespace
) -> dict[str, float]:
    clients = [Client(port, f"m{n}") for n in range(args.members)]
    for client in clients:  # argon2 per login: one at a time, as the server allows
        await client.log_in(lesson_id)
    agents: list[Client] = [Agent(port, token, lesson_id, args.batch) for token in tokens]
    await hammer(clients, 2.0, "beat")  # warm up
    await hammer(agents, 1.0, "records")
    with Meter(server_pid) as healthz:
        base_count, _ = await hammer(clients, args.seconds, "healthz")
    with Meter(server_pid) as beats:
        count, latencies = await hammer(clients, args.seconds, "beat")
    light, light_latencies = await hammer(clients[: args.light], args.seconds / 2, "beat")
    with Meter(server_pid) as uploads:
        batches, batch_latencies = await hammer(agents, args.seconds, "records")
    return {
        "beats_per_s": count / beats.wall,
        "p99_ms": p99_ms(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "healthz_per_s": base_count / healthz.wall,
        "beats": float(count),
        "beat_server_cpu": beats.server,
        "beat_client_cpu": beats.client,
        "healthz_server_cpu": healthz.server,
        "healthz_client_cpu": healthz.client,
        "light_beats_per_s": light / (args.seconds / 2),
        "light_p99_ms": p99_ms(light_latencies),
        "light_clients": float(min(args.light, args.members)),
        "batch_records_per_s": batches * args.batch / uploads.wall,
        "batch_p99_ms": p99_ms(batch_latencies),
        "records": float(batches * args.batch),
        "records_server_cpu": uploads.server,
    }


def run_one(database_url: str | None, args: argparse.Namespace) -> dict[str, float]:
    """One engine, in this process (its settings are read once): set up, serve, measure."""
    with scratch_home("yuanjiao-bench-ingest-") as home:
        if database_url:
            os.environ["YUANJIAO_DATABASE_URL"] = database_url
            for key in ("YUANJIAO_SECRET_KEY", "YUANJIAO_ID_HASH_KEY"):
                os.environ.setdefault(key, secrets.token_urlsafe(32))
        lesson_id, tokens = set_up(args.members, args.agents)
        port = free_port()
        server = start_app(dict(os.environ), home, port, home / "server.log")
        try:
            figures = asyncio.run(measure(port, server.pid, lesson_id, tokens, args))
        finally:
            stop(server)
        figures["bulk_insert_per_s"] = bulk_insert_rate(int(figures["beats"]))
        figures["bulk_insert_records_per_s"] = bulk_insert_records_rate(
            int(figures["records"]), lesson_id
        )
        return figures


def fresh_postgres(admin_url: str) -> str:
    """A new, empty benchmark database on the server of `admin_url`; its URL."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{BENCH_DATABASE}"')
    admin.dispose()
    url = make_url(admin_url).set(database=BENCH_DATABASE)
    return url.render_as_string(hide_password=False)


def line(f: dict[str, float]) -> str:
    return (
        f"beats_per_s={f['beats_per_s']:.0f} p99_ms={f['p99_ms']:.1f}"
        f" batch_records_per_s={f['batch_records_per_s']:.0f}"
        f" vs_bulk_insert={f['batch_records_per_s'] / f['bulk_insert_records_per_s']:.2f}"
    )


def cpu_ms(f: dict[str, float], phase: str) -> float:
    """Server CPU milliseconds per request in a phase: what the request costs, whatever share
    of the shared machine the server got."""
    rate = f["beats_per_s"] if phase == "beat" else f["healthz_per_s"]
    return 1000 * f[f"{phase}_server_cpu"] / rate


def detail(f: dict[str, float]) -> str:
    return (
        f"  same run: beats vs_healthz={f['beats_per_s'] / f['healthz_per_s']:.2f}"
        f" (healthz_per_s={f['healthz_per_s']:.0f})"
        f" beats vs_bulk_insert={f['beats_per_s'] / f['bulk_insert_per_s']:.3f}"
        f" (bulk_insert_beats_per_s={f['bulk_insert_per_s']:.0f},"
        f" bulk_insert_records_per_s={f['bulk_insert_records_per_s']:.0f})"
        f" p50_ms={f['p50_ms']:.1f} batch_p99_ms={f['batch_p99_ms']:.0f}\n"
        f"  below saturation ({f['light_clients']:.0f} clients):"
        f" beats_per_s={f['light_beats_per_s']:.0f}"
        f" p99_ms={f['light_p99_ms']:.1f}\n"
        f"  server cpu_ms per request: beat={cpu_ms(f, 'beat'):.2f}"
        f" healthz={cpu_ms(f, 'healthz'):.2f}"
        f" record={1000 * f['records_server_cpu'] / f['batch_records_per_s']:.3f}\n"
        f"  cpu (cores): beats server={f['beat_server_cpu']:.2f}"
        f" client={f['beat_client_cpu']:.2f}; healthz server={f['healthz_server_cpu']:.2f}"
        f" client={f['healthz_client_cpu']:.2f}; records server={f['records_server_cpu']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=48)
    parser.add_argument(
        "--light", type=int, default=8, help="clients of the below-saturation beat phase"
    )
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500, help="records per uploaded batch")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--postgres", default=os.environ.get("YUANJIAO_BENCH_POSTGRES", DEFAULT_POSTGRES)
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one engine, JSON out
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one or None, args)))
        return
    engines = [("sqlite (embedded)", "")]
    if not args.no_postgres:
        engines.insert(0, ("postgresql", fresh_postgres(args.postgres)))
    results = {}
    print(f"load average before: {load_average()} (2 cores, shared)")
    for name, url in engines:
        done = subprocess.run(
            [sys.executable, __file__, "--one", url, "--members", str(args.members),
             "--agents", str(args.agents), "--light", str(args.light), "--batch", str(args.batch),
             "--seconds", str(args.seconds)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
            raise SystemExit(f"{name}: failed")
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{name}: {line(results[name])}")
        print(detail(results[name]))
    print(f"load average after: {load_average()}")
    print(line(results["sqlite (embedded)"]))


if __name__ == "__main__":
    main()
