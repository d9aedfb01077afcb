"""HLS delivery benchmark: the app serving a lesson from the local store against nginx serving
the same files, both on loopback, loaded by many concurrent viewers; prints `app_vs_nginx=R`.

One run sets up a throw-away YUANJIAO_HOME, transcodes a 60 s 854x480 clip into a public course,
starts `yuanjiao serve` (one uvicorn process) and nginx (`worker_processes 1`, to match), then
measures each server in turn, alternating app / nginx for `--rounds` rounds, and compares the
median throughputs. The load generator is one asyncio process on the same 2-core machine, so it
competes with the server under test; its CPU share is printed alongside.

Run with `make bench` (installs nginx) or `.venv/bin/python bench/delivery.py --viewers 50`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import posixpath
import statistics
import subprocess
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.media lives in the checkout
from bench.harness import (  # noqa: E402
    cpu_seconds,
    free_port,
    load_average,
    own_cpu_seconds,
    run_cli,
    scratch_home,
    start_app,
    stop,
    wait_for,
)
from tests.media import make_clip  # noqa: E402

NGINX = Path("/usr/sbin/nginx")
ORG_NAME = "基准区委"
COURSE_TITLE = "基准课程"
CLIP_SECONDS = 60
MAX_HEAD = 64 * 1024
MB = 1_000_000


# --- set-up ------------------------------------------------------------------------------------


def make_course_public(title: str) -> None:
    """Open the course to anonymous viewers, so the load generator needs no session cookie."""
    from sqlalchemy import update

    from core.db import get_engine, session_scope
    from courseware.models import Course, Visibility

    with session_scope() as session:
        changed = session.execute(
            update(Course).where(Course.title == title).values(visibility=Visibility.public)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise SystemExit(f"expected one course titled {title!r} to make public")
    get_engine().dispose()


def nginx_config(home: Path, objects: Path, port: int) -> Path:
    """A minimal static-file nginx serving `objects` at /media/ with sendfile, no access log."""
    temp = home / "nginx-temp"
    temp.mkdir()
    config = home / "nginx.conf"
    config.write_text(
        f"""daemon off;
worker_processes 1;
pid {home / "nginx.pid"};
error_log {home / "nginx-error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    types {{
        application/vnd.apple.mpegurl m3u8;
        video/iso.segment m4s;
        video/mp4 mp4;
    }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {objects};
        location /media/ {{
            alias {objects}/;
        }}
    }}
}}
"""
    )
    return config


# --- CPU accounting from /proc -----------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (nginx's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


# --- load generator ----------------------------------------------------------------------------


@dataclass
class Meter:
    """Body bytes, completed requests and failures, counted as they happen."""

    bytes: int = 0
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class HttpError(Exception):
    """A response that a viewer cannot use (not 200, no length, or a broken connection)."""


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that counts body bytes as they arrive, unbuffered."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.transport: asyncio.Transport | None = None
        self.open = False
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._head = bytearray()
        self._remaining = -1  # body bytes still to come; -1 while reading the head
        self._status = 0
        self._body: bytearray | None = None
        self._close = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to write requests on."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.open = True

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail the request in flight, if any."""
        self.open = False
        self._fail(HttpError(f"connection lost: {exc}"))

    def _fail(self, error: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        """Parse the head, then count (and for playlists keep) the body."""
        if self._remaining < 0:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > MAX_HEAD:
                    self._fail(HttpError("response head too long"))
                return
            head = self._head[:end].decode("latin-1").split("\r\n")
            data = bytes(self._head[end + 4 :])
            self._head.clear()
            self._status = int(head[0].split(" ", 2)[1])
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip().lower()
            if "content-length" not in headers:
                self._fail(HttpError(f"no Content-Length (status {self._status})"))
                return
            self._remaining = int(headers["content-length"])
            self._close = headers.get("connection") == "close"
        if data:
            if len(data) > self._remaining:
                self._fail(HttpError("more bytes than Content-Length"))
                return
            self._remaining -= len(data)
            self.meter.bytes += len(data)
            if self._body is not None:
                self._body += data
        if self._remaining == 0:
            self._remaining = -1
            body = bytes(self._body) if self._body is not None else b""
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result((self._status, body))
            if self._close and self.transport is not None:
                self.transport.close()

    async def get(self, host: str, path: str, *, keep: bool) -> tuple[int, bytes]:
        """Send one GET and wait for its whole response; the body is returned only if `keep`."""
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._body = bytearray() if keep else None
        self.transport.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        return await self._waiter


class Viewer:
    """A player on one connection: master playlist, a variant, then its segments in order."""

    def __init__(self, *, port: int, master: str, index: int, meter: Meter) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.master = master
        self.index = index
        self.meter = meter
        self.connection: HttpConnection | None = None

    async def fetch(self, path: str, *, keep: bool = False) -> bytes:
        """GET a path on a (re)opened connection; non-200 answers count as errors."""
        if self.connection is None or not self.connection.open:
            loop = asyncio.get_running_loop()
            _, self.connection = await loop.create_connection(
                lambda: HttpConnection(self.meter), "127.0.0.1", self.port
            )
        try:
            status, body = await self.connection.get(self.host, path, keep=keep)
        except HttpError:
            self.meter.errors += 1
            raise
        self.meter.statuses[status] = self.meter.statuses.get(status, 0) + 1
        if status != 200:
            self.meter.errors += 1
            raise HttpError(f"{path}: HTTP {status}")
        self.meter.requests += 1
        return body

    async def watch(self) -> None:
        """Watch the lesson from the start, again and again, as fast as the server allows."""
        while True:
            try:
                await self.watch_once()
            except (HttpError, OSError):
                await asyncio.sleep(0.05)

    async def watch_once(self) -> None:
        """One pass: master, this viewer's variant, its init section and every segment."""
        variants = media_uris(self.master, (await self.fetch(self.master, keep=True)).decode())
        if not variants:
            raise HttpError("master playlist lists no variant")
        variant = variants[self.index % len(variants)]
        for uri in media_uris(variant, (await self.fetch(variant, keep=True)).decode()):
            await self.fetch(uri)

    def close(self) -> None:
        """Drop the connection."""
        if self.connection is not None and self.connection.transport is not None:
            self.connection.transport.close()


def media_uris(playlist: str, text: str) -> list[str]:
    """The URIs a playlist points at (EXT-X-MAP init first), resolved against its own path."""
    base = posixpath.dirname(playlist)
    uris = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MAP:") and 'URI="' in line:
            uris.append(line.split('URI="', 1)[1].split('"', 1)[0])
        elif line and not line.startswith("#"):
            uris.append(line)
    resolved = []
    for uri in uris:
        if "://" in uri:
            raise HttpError(f"absolute URL in playlist (not the local store?): {uri}")
        resolved.append(uri if uri.startswith("/") else posixpath.normpath(f"{base}/{uri}"))
    return resolved


@dataclass
class Phase:
    """What one measured phase of one target gave."""

    target: str
    seconds: float
    bytes: int
    requests: int
    errors: int
    server_cpu: float  # CPU seconds of the server process(es) under test
    client_cpu: float  # CPU seconds of the load generator

    @property
    def mb_per_second(self) -> float:
        """Body throughput in MB/s (10^6 bytes)."""
        return self.bytes / MB / self.seconds

    @property
    def requests_per_second(self) -> float:
        """Completed 200 responses per second."""
        return self.requests / self.seconds


async def measure(
    *,
    target: str,
    port: int,
    master: str,
    server_pids: list[int],
    viewers: int,
    warmup: float,
    seconds: float,
) -> Phase:
    """Run `viewers` players against one server, warm up, then count over `seconds`."""
    meter = Meter()
    players = [Viewer(port=port, master=master, index=i, meter=meter) for i in range(viewers)]
    tasks = [asyncio.create_task(player.watch()) for player in players]
    try:
        await asyncio.sleep(warmup)
        start = (meter.bytes, meter.requests, meter.errors)
        server_start = sum(cpu_seconds(pid) for pid in server_pids)
        client_start = own_cpu_seconds()
        began = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - began
        server_cpu = sum(cpu_seconds(pid) for pid in server_pids) - server_start
        client_cpu = own_cpu_seconds() - client_start
        return Phase(
            target=target,
            seconds=elapsed,
            bytes=meter.bytes - start[0],
            requests=meter.requests - start[1],
            errors=meter.errors - start[2],
            server_cpu=server_cpu,
            client_cpu=client_cpu,
        )
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        crashed = [o for o in outcomes if not isinstance(o, asyncio.CancelledError | type(None))]
        for player in players:
            player.close()
        await asyncio.sleep(0.2)  # let the servers see the connections close
        if crashed:
            raise RuntimeError(f"{len(crashed)} viewers crashed, first: {crashed[0]!r}")


def run_async(coroutine: Coroutine[None, None, Phase]) -> Phase:
    """Run one phase on uvloop when it is installed (it is, with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


# --- report ------------------------------------------------------------------------------------


def describe(phase: Phase, label: str) -> str:
    """One line of figures for a phase."""
    return (
        f"{label:14} {phase.mb_per_second:8.1f} MB/s {phase.requests_per_second:8.0f} req/s"
        f"   server CPU {phase.server_cpu / phase.seconds:4.0%} of a core,"
        f" load generator {phase.client_cpu / phase.seconds:4.0%}"
        + (f", {phase.errors} errors" if phase.errors else "")
    )


def limit_line(app: list[Phase], nginx: list[Phase]) -> str:
    """What the observed CPU figures say limits the app."""
    app_core = sum(p.server_cpu for p in app) / sum(p.seconds for p in app)
    client_core = sum(p.client_cpu for p in app) / sum(p.seconds for p in app)
    app_ms_per_request = (
        1000 * sum(p.server_cpu for p in app) / max(sum(p.requests for p in app), 1)
    )
    app_ms_per_mb = 1000 * sum(p.server_cpu for p in app) / max(sum(p.bytes for p in app) / MB, 1)
    nginx_ms_per_mb = (
        1000 * sum(p.server_cpu for p in nginx) / max(sum(p.bytes for p in nginx) / MB, 1)
    )
    if app_core >= 0.85:
        verdict = "CPU-bound: one Python process on one core (uvicorn, a single worker)"
    elif app_core + client_core >= 1.7:
        verdict = "the 2 cores are saturated by the app and the load generator together"
    else:
        verdict = "not CPU-bound: time goes waiting (threadpool hand-offs, disk, the network)"
    return (
        f"limit: app process at {app_core:.0%} of a core (load generator {client_core:.0%})"
        f" -> {verdict}; {app_ms_per_request:.2f} ms app CPU per request, {app_ms_per_mb:.1f} ms"
        f" per MB (nginx: {nginx_ms_per_mb:.2f} ms per MB with sendfile). Per segment the app"
        " checks one HMAC-signed link (no session, no database) and answers from its hot-object"
        " cache in one threadpool hop, but every body still passes through Python and the ASGI"
        " stack (uvicorn has no sendfile); playlists pay for the session, the database and the"
        " rights check"
    )


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    """Check the arguments and nginx, then run the benchmark in a throw-away home."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=50, help="concurrent HLS viewers")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per phase")
    parser.add_argument("--rounds", type=int, default=2, help="app/nginx rounds (median taken)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per phase")
    args = parser.parse_args()
    if args.viewers < 1 or args.seconds <= 0 or args.rounds < 1 or args.warmup < 0:
        parser.error("--viewers, --seconds and --rounds must be positive, --warmup >= 0")
    if not NGINX.exists():
        print(
            f"error: {NGINX} is missing: install Debian's nginx package (`make bench` does,"
            " as root) to measure the baseline",
            file=sys.stderr,
        )
        return 2
    for name in ("YUANJIAO_DATABASE_URL", "YUANJIAO_STORAGE_URL", "YUANJIAO_QUEUE_URL"):
        os.environ.pop(name, None)
    with scratch_home("yuanjiao-bench-delivery-") as home:
        # nginx's worker drops to `nobody` when started by root: let it traverse into the store.
        home.chmod(0o711)
        return run(args, home)


def run(args: argparse.Namespace, home: Path) -> int:
    """Set up in `home`, start both servers, measure them alternately, print the ratio last."""
    env = dict(os.environ)
    app: subprocess.Popen[bytes] | None = None
    nginx: subprocess.Popen[bytes] | None = None
    try:
        started = time.monotonic()
        run_cli(env, home, "db", "upgrade")
        org_id = run_cli(env, home, "orgs", "add", ORG_NAME, "--kind", "district")
        run_cli(env, home, "users", "add", "bench", "--role", "platform_admin", "--org", org_id,
                "--password", "bench-password-1")  # fmt: skip
        clip = home / "clip.mp4"
        make_clip(clip, seconds=CLIP_SECONDS, width=854, height=480)
        lesson_id = run_cli(env, home, "lessons", "add", str(clip), "--course", COURSE_TITLE,
                            "--title", "基准", "--org", org_id, "--wait")  # fmt: skip
        make_course_public(COURSE_TITLE)
        objects = home / "objects"
        hls = objects / "lessons" / lesson_id / "hls"
        files = [path for path in hls.rglob("*") if path.is_file()]
        total = sum(path.stat().st_size for path in files)
        print(
            f"set-up {time.monotonic() - started:.0f} s: lesson {lesson_id}, {CLIP_SECONDS} s"
            f" 854x480 clip, {len(files)} HLS files, {total / MB:.1f} MB,"
            f" renditions {sorted(p.name for p in hls.iterdir() if p.is_dir())}"
        )

        app_port, nginx_port = free_port(), free_port()
        # No access log, as nginx's access_log off: compare serving, not logging.
        app_log = home / "app.log"
        app = start_app(env, home, app_port, app_log)
        nginx_log = home / "nginx-error.log"
        config = nginx_config(home, objects, nginx_port)
        nginx = subprocess.Popen(
            [str(NGINX), "-p", str(home), "-c", str(config), "-e", str(nginx_log)],
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        master = f"/media/lessons/{lesson_id}/hls/master.m3u8"
        wait_for(f"http://127.0.0.1:{nginx_port}{master}", nginx, nginx_log)
        wait_for(f"http://127.0.0.1:{app_port}{master}", app, app_log)  # anonymous: public course
        targets = {
            "app": (app_port, [app.pid]),
            "nginx": (nginx_port, children_of(nginx.pid) or [nginx.pid]),
        }
        print(
            f"{args.viewers} concurrent viewers per target (each: master, a variant, init and"
            f" every segment in order, bodies read fully), {args.warmup:g} s warm-up +"
            f" {args.seconds:g} s measured, {args.rounds} rounds alternating app/nginx"
        )
        print(
            "app: `yuanjiao serve --no-access-log` (one uvicorn process); nginx: worker_processes 1"
            " to match it, sendfile on, access_log off"
        )
        print(
            "note: the load generator is one asyncio process (raw HTTP/1.1 keep-alive, uvloop)"
            f" competing with the server for the machine's {os.cpu_count()} cores"
        )
        print(f"machine load average (1 min) before measuring: {load_average()}")
        phases: dict[str, list[Phase]] = {"app": [], "nginx": []}
        for round_number in range(1, args.rounds + 1):
            for target, (port, pids) in targets.items():
                phase = run_async(
                    measure(
                        target=target,
                        port=port,
                        master=master,
                        server_pids=pids,
                        viewers=args.viewers,
                        warmup=args.warmup,
                        seconds=args.seconds,
                    )
                )
                phases[target].append(phase)
                print(describe(phase, f"round {round_number} {target}"), flush=True)
        if any(p.requests == 0 for ps in phases.values() for p in ps):
            print("error: a phase completed no request", file=sys.stderr)
            return 1
        medians = {
            target: statistics.median(p.mb_per_second for p in ps) for target, ps in phases.items()
        }
        for target, ps in phases.items():
            rps = statistics.median(p.requests_per_second for p in ps)
            print(f"{target + ' (median)':14} {medians[target]:8.1f} MB/s {rps:8.0f} req/s")
        print(limit_line(phases["app"], phases["nginx"]))
        print(f"total {time.monotonic() - started:.0f} s")
        print(f"app_vs_nginx={medians['app'] / medians['nginx']:.2f}")
        errors = sum(p.errors for ps in phases.values() for p in ps)
        return 1 if errors else 0
    finally:
        stop(nginx)
        stop(app)


if __name__ == "__main__":
    sys.exit(main())
