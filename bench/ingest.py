"""Study-beat ingest benchmark: web-player beats through HTTP, each answered only once its
transaction is committed, on the embedded default (SQLite, WAL) and on PostgreSQL.

For each engine, a throw-away database gets an org, one lesson and `--members` members with
logins of their own; `yuanjiao serve` (one uvicorn process) is started; every member logs in
and starts a playback session; then `--members` clients, one per member, each on its own
keep-alive connection, send beats back to back for `--seconds` (honest ones: sequence numbers
in order, the client clock, a few milliseconds of media per beat). Baselines measured in the same
run: the same clients asking GET /healthz (one database round trip per request), and a plain
bulk INSERT of as many beat rows through SQLAlchemy.

Prints per engine `beats_per_s=N p99_ms=M vs_healthz=R vs_bulk_insert=B`, and last the line for
the embedded default. Run with `.venv/bin/python bench/ingest.py` (add `--postgres URL` for
another server; `--no-postgres` to skip it).
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.harness
from bench.harness import free_port, scratch_home, start_app, stop  # noqa: E402

PASSWORD = "bench-password-9"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "yuanjiao_bench_ingest"


def set_up(members: int) -> int:
    """The org, lesson and member accounts, written with the platform's own services."""
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
        return lesson.id


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


async def hammer(clients: list[Client], seconds: float, make: str) -> tuple[int, list[float]]:
    """Every client sends requests back to back for `seconds`; answered count, latencies."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def one(client: Client) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
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


async def measure(port: int, lesson_id: int, members: int, seconds: float) -> dict[str, float]:
    clients = [Client(port, f"m{n}") for n in range(members)]
    for client in clients:  # argon2 per login: one at a time, as the server allows
        await client.log_in(lesson_id)
    await hammer(clients, 2.0, "beat")  # warm up
    base_count, _ = await hammer(clients, seconds, "healthz")
    count, latencies = await hammer(clients, seconds, "beat")
    return {
        "beats_per_s": count / seconds,
        "p99_ms": p99_ms(latencies),
        "healthz_per_s": base_count / seconds,
        "beats": float(count),
    }


def run_one(database_url: str | None, members: int, seconds: float) -> dict[str, float]:
    """One engine, in this process (its settings are read once): set up, serve, measure."""
    with scratch_home("yuanjiao-bench-ingest-") as home:
        if database_url:
            os.environ["YUANJIAO_DATABASE_URL"] = database_url
            for key in ("YUANJIAO_SECRET_KEY", "YUANJIAO_ID_HASH_KEY"):
                os.environ.setdefault(key, secrets.token_urlsafe(32))
        lesson_id = set_up(members)
        port = free_port()
        server = start_app(dict(os.environ), home, port, home / "server.log")
        try:
            figures = asyncio.run(measure(port, lesson_id, members, seconds))
        finally:
            stop(server)
        figures["bulk_insert_per_s"] = bulk_insert_rate(int(figures["beats"]))
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


def line(figures: dict[str, float]) -> str:
    return (
        f"beats_per_s={figures['beats_per_s']:.0f} p99_ms={figures['p99_ms']:.1f}"
        f" vs_healthz={figures['beats_per_s'] / figures['healthz_per_s']:.2f}"
        f" vs_bulk_insert={figures['beats_per_s'] / figures['bulk_insert_per_s']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--postgres", default=os.environ.get("YUANJIAO_BENCH_POSTGRES", DEFAULT_POSTGRES)
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one engine, JSON out
    args = parser.parse_args()
    if args.one is not None:
        figures = run_one(args.one or None, args.members, args.seconds)
        print(json.dumps(figures))
        return
    engines = [("sqlite (embedded)", "")]
    if not args.no_postgres:
        engines.insert(0, ("postgresql", fresh_postgres(args.postgres)))
    results = {}
    for name, url in engines:
        done = subprocess.run(
            [sys.executable, __file__, "--one", url, "--members", str(args.members),
             "--seconds", str(args.seconds)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
            raise SystemExit(f"{name}: failed")
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{name}: {line(results[name])}")
    print(line(results["sqlite (embedded)"]))


if __name__ == "__main__":
    main()
