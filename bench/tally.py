"""Live tally benchmark: N concurrent viewers of an election's watch page follow its live
standing over server-sent events (`GET /api/elections/{id}/live`) while the tellers' entries
arrive; prints `sse_clients=N p95_ms=T missed=M vs_bare_sse=R` last.

One run sets up a throw-away YUANJIAO_HOME with an election brought to its count (the demo's
facts: roll, officers, a round of 4 candidates for 3 seats, ballots issued and returned at two
venues) and starts two servers on loopback: the app, `yuanjiao serve` (a web node, as an audience
of thousands is served: its jobs run on workers of their own), and the baseline, a bare SSE
broadcaster (below). Then, all
bounded in time:

- each server gets N viewers of its own, shared by `--client-processes` processes: raw asyncio
  sockets, an HTTP/1.1 GET each, the chunked body split into SSE messages by hand (no HTTP
  client library: 2,000 viewers must cost little beside a server on the same 2 cores). A viewer
  has joined once it has the standing the server sends on connection. The servers' CPU with
  everybody connected and nothing happening is taken over a few seconds (printed only);
- this process writes `--updates` teller `ballot` entries straight into the database, as an
  officer's entries arrive through another web node (streaming.elections.service.append, the
  demo's way), one every `--every` seconds (0.25: faster than tellers type): the app must
  notice each by watching the record, which it looks at every 0.5 s, so two entries land
  between two looks and go out together (each its own message, in one write); `--every 0.6`
  gives one entry per look. An app that fell behind would send the latest standing, and the
  entries it skipped would show as missed. Each entry is a new seq: `missed` counts (viewer,
  seq) pairs never received, and a latency is a viewer's receipt of the message with that seq
  minus the moment the commit returned here (CLOCK_MONOTONIC is one clock for every process);
  p95 is over all pairs;
- the updates come in blocks, the servers in turns: a block of entries for the app, then the
  same messages to the bare broadcaster at the same pace, and so on (BLOCKS each), so that a
  change in the shared machine's speed falls on both. A block lasts from its first update until
  every viewer has its last; a server's CPU (utime + stime of the process, /proc) over its
  blocks, divided by the updates delivered, is its CPU per delivered update.

The bare broadcaster is an ASGI app of a dozen lines on the same uvicorn (same event loop, same
HTTP parser, same chunked framing), with no middleware, login, database or poll: one shared
message and an asyncio.Event per change, the cheapest fan-out an ASGI app can do. Same uvicorn
rather than a raw asyncio server, because the stack is fixed by the architecture: the ratio
shows what the application adds per message (its middleware, per-viewer work and watching the
record), not what uvicorn costs. It sends the very bytes the app sent, recorded by one of the
app's viewers and fed to it over a pipe from this process. R = the app's CPU per delivered
update ÷ the bare broadcaster's.

Targets on this 2-core machine: p95 <= 1000 ms, M = 0, R <= 1.5. Run with `make bench` or
`.venv/bin/python bench/tally.py --clients 2000 --updates 200` (about 2 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench, core, streaming
from bench.harness import (  # noqa: E402
    cpu_seconds,
    free_port,
    load_average,
    scratch_home,
    start_app,
    stop,
    wait_for,
)
from core.media import die_with_parent  # noqa: E402

CANDIDATES = ["陈建国", "李秀兰", "王志强", "赵春梅"]
SEATS = 3
TELLERS = ("teller:一号计票人", "teller:二号计票人")
JOIN_TIMEOUT = 90.0  # seconds for every viewer of a process to have its first standing
CONNECTING = 64  # connections a client process opens at once
DRAIN_TIMEOUT = 15.0  # seconds after the last update for every viewer to have it
IDLE_SECONDS = 3.0
BLOCKS = 4  # each server has its updates in this many blocks, the two servers in turns
WALL_LIMIT = 900  # seconds: the whole run, whatever hangs
TARGET_P95_MS, TARGET_MISSED, TARGET_RATIO = 1000, 0, 1.5


# --- the election -----------------------------------------------------------------------------


def seed_election(ballots: int) -> int:
    """Schema and an election at its count step (the facts demo.py records, for `ballots`
    voters present); returns its id."""
    from core.db import session_scope
    from core.migrate import upgrade_database
    from core.people.models import OrgKind
    from core.people.service import create_org, create_user
    from streaming.elections.demo import to_the_count
    from streaming.elections.procedure import Step
    from streaming.elections.service import append, create_election

    upgrade_database()
    venues = {"主会场": ballots - ballots // 3, "分会场": ballots // 3}
    with session_scope() as session:
        org = create_org(session=session, name="基准支部", kind=OrgKind.branch)
        chair = create_user(session=session, login="chair", password=secrets.token_urlsafe(16))
        election = create_election(session=session, actor=chair, org=org, title="基准选举")

        def fact(kind: str, **data: Any) -> None:
            append(session, election, kind, "chair:chair", data)

        fact("step", step=Step.attendance)
        fact("roll", round=1, present=ballots, expected=ballots + 2)
        to_the_count(
            fact,
            scrutineers=["监票人"],
            tellers=[t.split(":")[1] for t in TELLERS],
            candidates=CANDIDATES,
            seats=SEATS,
            venues=venues,
        )
        return election.id


class Tellers:
    """The tellers' entries, written as another web node writes them: each ballot entered by
    both tellers in turn (double entry), one entry per call, committed before it returns."""

    def __init__(self, election_id: int) -> None:
        self.election_id = election_id
        self.choose = random.Random(2026)
        self.marks: dict[str, str] = {}

    def enter(self, number: int) -> tuple[int, float]:
        """Entry `number` (0-based); returns its seq and the moment its commit returned."""
        from core.db import session_scope
        from streaming.elections.models import Election
        from streaming.elections.service import append

        if number % 2 == 0:
            self.marks = dict.fromkeys(CANDIDATES, "x")
            for name in self.choose.sample(CANDIDATES, SEATS):
                self.marks[name] = "o"
        data = {"round": 1, "number": number // 2 + 1, "marks": self.marks}
        with session_scope() as session:
            election = session.get_one(Election, self.election_id)
            seq = append(session, election, "ballot", TELLERS[number % 2], data).seq
        return seq, time.monotonic()


# --- the viewers (client processes) -----------------------------------------------------------


class Viewer(asyncio.Protocol):
    """One watch page's event stream: the response head, the chunked body, SSE messages; the
    seq of each message and when it arrived (the first time only), its bytes if recording."""

    def __init__(self, request: bytes, record: bool) -> None:
        self.request = request
        self.record = record
        self.head: bytearray | None = bytearray()
        self.chunked = False
        self.raw = bytearray()  # chunked framing not yet decoded
        self.left = 0  # bytes of the current chunk still to come
        self.skip = 0  # bytes of the CRLF after a chunk still to skip
        self.text = bytearray()  # decoded body not yet split into messages
        self.last = -1
        self.arrivals: list[tuple[int, float]] = []
        self.payloads: dict[int, bytes] = {}
        self.refused = ""
        self.closed = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if self.head is not None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = bytes(self.head[:end]).lower(), bytes(self.head[end + 4 :])
            self.head = None
            status = head.split(b"\r\n", 1)[0]
            if status.split()[1:2] != [b"200"]:
                self.refused = status.decode(errors="replace")
                assert self.transport is not None
                self.transport.close()
                return
            self.chunked = b"\r\ntransfer-encoding: chunked" in head
        if self.chunked:
            self._dechunk(data)
        else:
            self.text += data
        while (end := self.text.find(b"\n\n")) >= 0:
            message = bytes(self.text[: end + 2])
            del self.text[: end + 2]
            if message.startswith(b"id: "):
                seq = int(message[4 : message.index(b"\n")])
                if seq > self.last:
                    self.last = seq
                    self.arrivals.append((seq, now))
                    if self.record:
                        self.payloads[seq] = message

    def _dechunk(self, data: bytes) -> None:
        """Move the chunks' data from `raw` to `text`, leaving an incomplete chunk in `raw`."""
        raw = self.raw
        raw += data
        pos = 0
        while pos < len(raw):
            if self.skip:
                step = min(self.skip, len(raw) - pos)
                pos += step
                self.skip -= step
            elif self.left:
                step = min(self.left, len(raw) - pos)
                self.text += raw[pos : pos + step]
                pos += step
                self.left -= step
                if not self.left:
                    self.skip = 2
            else:
                end = raw.find(b"\r\n", pos)
                if end < 0:
                    break
                self.left = int(bytes(raw[pos:end]).split(b";")[0], 16)
                pos = end + 2
                if not self.left:  # the last chunk: the server ended the stream
                    assert self.transport is not None
                    self.transport.close()
                    break
        del raw[:pos]


async def open_viewer(port: int, request: bytes, record: bool, until: float) -> Viewer:
    """Connect one viewer, retrying a refused or reset connection (as EventSource reconnects)
    until `until`."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            _, viewer = await loop.create_connection(
                lambda: Viewer(request, record), "127.0.0.1", port
            )
            return viewer
        except OSError:
            if time.monotonic() > until:
                raise
            await asyncio.sleep(0.2)


async def next_line() -> str:
    """The benchmark's next command on stdin."""
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def captured(viewers: list[Viewer]) -> str:
    """The messages recorded since the last call, as JSON {seq: text} (taken, not copied)."""
    payloads = {seq: p.decode() for v in viewers for seq, p in v.payloads.items()}
    for viewer in viewers:
        viewer.payloads.clear()
    return json.dumps(payloads, ensure_ascii=False)


async def watch(count: int, port: int, path: str, record: bool) -> None:
    """`count` viewers. Say `joined` once each has a standing; at each `times {seq: t}` (a block
    of updates and when each was committed or sent), say `drained` once each viewer has the
    block's last seq (or after DRAIN_TIMEOUT); at `report`, report what arrived as one JSON
    line. `joined` and `drained` carry the messages recorded meanwhile, if recording."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nUser-Agent: bench-tally\r\n\r\n"
    ).encode()
    began = time.monotonic()
    until = began + JOIN_TIMEOUT
    gate = asyncio.Semaphore(CONNECTING)

    async def one(n: int) -> Viewer:
        async with gate:
            return await open_viewer(port, request, record and n == 0, until)

    async with asyncio.timeout(JOIN_TIMEOUT):
        viewers = list(await asyncio.gather(*(one(n) for n in range(count))))
    while not all(v.arrivals or v.refused or v.closed for v in viewers):
        if time.monotonic() > until:
            break
        await asyncio.sleep(0.1)
    joined = sum(bool(v.arrivals) for v in viewers)
    if joined < count:
        refusals = Counter(v.refused for v in viewers if v.refused)
        raise SystemExit(
            f"{count - joined} of {count} viewers had no standing (waited {JOIN_TIMEOUT:.0f} s"
            f" at most; refused: {dict(refusals) or 'none'};"
            f" closed: {sum(v.closed for v in viewers)})"
        )
    print(f"joined {time.monotonic() - began:.1f} {captured(viewers)}", flush=True)
    times: dict[int, float] = {}
    while (line := await next_line()).startswith("times "):
        block = {int(seq): at for seq, at in json.loads(line[6:]).items()}
        times.update(block)
        last = max(block)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline and not all(v.last >= last or v.closed for v in viewers):
            await asyncio.sleep(0.02)
        print(f"drained {captured(viewers)}", flush=True)
    if line.strip() != "report":
        raise SystemExit(f"expected update times or `report` from the benchmark, got {line!r}")
    received: Counter[int] = Counter()
    latency_ms: Counter[int] = Counter()
    for viewer in viewers:
        for seq, at in viewer.arrivals:
            if seq in times:
                received[seq] += 1
                latency_ms[round(1000 * (at - times[seq]))] += 1
    report = {
        "received": received,
        "latency_ms": latency_ms,
        "closed": sum(v.closed for v in viewers),
    }
    print(json.dumps(report), flush=True)
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.close()


# --- the bare broadcaster (a process of its own) ----------------------------------------------


class BareBroadcaster:
    """A minimal SSE broadcaster as an ASGI app: no middleware, login or database. The message
    to send comes over stdin (a decimal length line, then the bytes); every viewer is sent the
    current message on connection and each new one as it comes."""

    def __init__(self) -> None:
        self.message = b""
        self.changed = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["path"] == "/healthz":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        while True:
            changed = self.changed
            await send({"type": "http.response.body", "body": self.message, "more_body": True})
            await changed.wait()

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.reader = asyncio.ensure_future(self.read_messages())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.reader is not None:
                    self.reader.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def read_messages(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            self.message = await reader.readexactly(int(line))
            changed, self.changed = self.changed, asyncio.Event()
            changed.set()


def serve_bare(port: int) -> None:
    """Serve the bare broadcaster on `port` with uvicorn's defaults, as `yuanjiao serve` does."""
    import uvicorn

    uvicorn.run(BareBroadcaster(), host="127.0.0.1", port=port, log_level="warning")


# --- both servers, measured in turns ----------------------------------------------------------


@dataclass
class Phase:
    """What one server did for its viewers over its blocks of updates."""

    name: str
    clients: int
    joined_s: float = 0.0
    idle_cpu: float = 0.0  # cores, everybody connected, no update
    window_s: float = 0.0  # seconds, the blocks together
    server_cpu: float = 0.0  # seconds over the blocks
    client_cpu: float = 0.0  # seconds over the blocks, its client processes
    sent: dict[int, float] = field(default_factory=dict)  # seq -> committed (or sent) at
    received: Counter[int] = field(default_factory=Counter)
    latency_ms: Counter[int] = field(default_factory=Counter)
    closed: int = 0

    @property
    def delivered(self) -> int:
        return sum(self.received.values())

    @property
    def missed(self) -> int:
        return self.clients * len(self.sent) - self.delivered

    @property
    def cpu_per_update(self) -> float:
        """Server CPU seconds per update delivered to one viewer."""
        return self.server_cpu / max(self.delivered, 1)

    @property
    def added_cpu_per_update(self) -> float:
        """The same, less what the server spends when nothing happens (its poll, a worker)."""
        return (self.server_cpu - self.idle_cpu * self.window_s) / max(self.delivered, 1)

    def latency(self, share: float) -> float:
        """The latency (ms) under which `share` of the deliveries came."""
        total, seen = sum(self.latency_ms.values()), 0
        for ms in sorted(self.latency_ms):
            seen += self.latency_ms[ms]
            if seen >= share * total:
                return ms
        return float("nan")

    def describe(self) -> str:
        return (
            f"{self.name:5} {self.clients} viewers joined in {self.joined_s:4.1f} s; server idle"
            f" {self.idle_cpu:4.0%} of a core; {len(self.sent)} updates over {self.window_s:.1f} s:"
            f" server {self.server_cpu / self.window_s:4.0%} of a core,"
            f" {1e6 * self.cpu_per_update:5.1f} µs per delivered update ({self.delivered});"
            f" latency p50 {self.latency(0.5):.0f} ms, p95 {self.latency(0.95):.0f} ms,"
            f" max {self.latency(1.0):.0f} ms; missed {self.missed}; closed {self.closed};"
            f" clients {self.client_cpu / self.window_s:4.0%} of a core"
        )


def shares(count: int, processes: int) -> list[int]:
    """`count` viewers spread as evenly as may be over at most `processes` processes."""
    processes = max(1, min(processes, count))
    return [count // processes + (n < count % processes) for n in range(processes)]


class Audience:
    """The client processes holding one server's viewers (the first viewer records)."""

    def __init__(self, port: int, path: str, args: argparse.Namespace) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        for n, count in enumerate(shares(args.clients, args.client_processes)):
            record = ["--record"] if n == 0 else []
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--watch", str(count), "--port", str(port),
                     "--path", path, *record],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    preexec_fn=die_with_parent,
                )
            )  # fmt: skip

    def _answers(self, word: str) -> list[str]:
        """Each process's next line, which must start with `word`; the rest of each."""
        rests = []
        for process in self.processes:
            assert process.stdout is not None
            line = process.stdout.readline().decode()
            if not line.startswith(word):
                raise SystemExit(
                    f"a client process said {line[:300]!r}, not {word or 'a line'}"
                    f" (exit code {process.poll()})"
                )
            rests.append(line[len(word) :])
        return rests

    def _tell(self, line: str) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(line.encode() + b"\n")
            process.stdin.flush()

    @staticmethod
    def _payloads(texts: list[str]) -> dict[int, bytes]:
        return {int(k): v.encode() for text in texts for k, v in json.loads(text).items()}

    def join(self) -> tuple[float, dict[int, bytes]]:
        """Once every viewer has a standing: how long that took, the messages recorded."""
        rests = [rest.split(" ", 1) for rest in self._answers("joined ")]
        return max(float(took) for took, _ in rests), self._payloads([p for _, p in rests])

    def deliver(self, sent: dict[int, float]) -> dict[int, bytes]:
        """Once every viewer has the last of `sent` (or gave up): the messages recorded."""
        self._tell(f"times {json.dumps(sent)}")
        return self._payloads(self._answers("drained "))

    def report(self, phase: Phase) -> None:
        """What the viewers received, into `phase`; then they leave."""
        self._tell("report")
        for text in self._answers("{"):
            report = json.loads("{" + text)
            phase.received.update({int(k): v for k, v in report["received"].items()})
            phase.latency_ms.update({int(k): v for k, v in report["latency_ms"].items()})
            phase.closed += report["closed"]
        for process in self.processes:
            process.wait(timeout=30)

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.processes)

    def close(self) -> None:
        for process in self.processes:
            stop(process)


@dataclass
class Side:
    """One server under test: its process, its viewers, how it is given an update."""

    phase: Phase
    server: subprocess.Popen[bytes]
    audience: Audience
    publish: Callable[[int], tuple[int, float]]  # update number -> (seq, committed or sent at)


def run_block(side: Side, count: int, every: float) -> dict[int, bytes]:
    """`count` updates at the pace, until every viewer has the last; the CPU spent meanwhile
    added to the side's phase; returns the messages recorded."""
    phase, pid = side.phase, side.server.pid
    server_start, client_start = cpu_seconds(pid), side.audience.cpu()
    began = time.monotonic()
    sent: dict[int, float] = {}
    for n in range(count):
        time.sleep(max(0.0, began + n * every - time.monotonic()))
        seq, at = side.publish(len(phase.sent) + n)
        sent[seq] = at
        if side.server.poll() is not None:
            raise SystemExit(f"the {phase.name} server died (exit code {side.server.returncode})")
    payloads = side.audience.deliver(sent) if sent else {}
    phase.window_s += time.monotonic() - began
    phase.server_cpu += cpu_seconds(pid) - server_start
    phase.client_cpu += side.audience.cpu() - client_start
    phase.sent.update(sent)
    return payloads


def idle_cores(pids: list[int], seconds: float) -> list[float]:
    """Cores each process uses over the next `seconds`."""
    before, began = [cpu_seconds(pid) for pid in pids], time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - began
    return [(cpu_seconds(pid) - b) / elapsed for pid, b in zip(pids, before, strict=True)]


def start_bare(home: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The bare broadcaster's process (it answers once it has its first message)."""
    port = free_port()
    with (home / "bare.log").open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, __file__, "--bare", "--port", str(port)],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    return server, port


def measure(
    args: argparse.Namespace, home: Path, election_id: int, env: dict[str, str]
) -> tuple[Phase, Phase]:
    """Both servers with their viewers connected, then the updates in blocks, in turns: a
    block of entries to the app, then the same messages to the bare broadcaster (so a drift in
    the shared machine's speed falls on both)."""
    app = Phase("app", args.clients)
    bare = Phase("bare", args.clients)
    tellers = Tellers(election_id)
    messages: list[tuple[int, bytes]] = []  # the app's, in order, for the bare broadcaster
    app_port = free_port()
    app_server = start_app(env, home, app_port, home / "server.log")
    bare_server, bare_port = start_bare(home)
    audiences: list[Audience] = []
    try:
        assert bare_server.stdin is not None
        pipe = bare_server.stdin

        def relay(number: int) -> tuple[int, float]:
            seq, message = messages[number]
            pipe.write(b"%d\n" % len(message) + message)
            pipe.flush()
            return seq, time.monotonic()

        audiences.append(Audience(app_port, f"/api/elections/{election_id}/live", args))
        app.joined_s, recorded = audiences[0].join()
        messages.extend(sorted(recorded.items()))
        relay(0)  # the standing on connection
        wait_for(f"http://127.0.0.1:{bare_port}/healthz", bare_server, home / "bare.log")
        audiences.append(Audience(bare_port, "/live", args))
        bare.joined_s, _ = audiences[1].join()
        app.idle_cpu, bare.idle_cpu = idle_cores([app_server.pid, bare_server.pid], IDLE_SECONDS)
        app_side = Side(app, app_server, audiences[0], tellers.enter)
        bare_side = Side(bare, bare_server, audiences[1], lambda n: relay(n + 1))
        blocks = shares(args.updates, BLOCKS)
        for count in blocks:
            recorded = run_block(app_side, count, args.every)
            messages.extend(sorted((s, m) for s, m in recorded.items() if s in app.sent))
            run_block(bare_side, len(messages) - 1 - len(bare.sent), args.every)
        audiences[0].report(app)
        audiences[1].report(bare)
    except BaseException:
        sys.stderr.write((home / "server.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        for audience in audiences:
            audience.close()
        stop(app_server)
        stop(bare_server)
    return app, bare


def report(app: Phase, bare: Phase) -> None:
    """Both phases, whether the targets are met and, last, the figures."""
    print(app.describe())
    print(bare.describe())
    if len(bare.sent) < len(app.sent):
        print(f"warning: the recorder missed updates; the bare server sent {len(bare.sent)}")
    if not bare.sent:
        raise SystemExit("the recording viewer had no update: nothing for the bare broadcaster")
    ratio = app.cpu_per_update / bare.cpu_per_update if bare.server_cpu else float("inf")
    added = app.added_cpu_per_update / bare.added_cpu_per_update if bare.server_cpu else ratio
    print(
        f"above each server's idle CPU: app {1e6 * app.added_cpu_per_update:.1f} µs, bare"
        f" {1e6 * bare.added_cpu_per_update:.1f} µs per delivered update, ratio {added:.2f}"
    )
    p95 = app.latency(0.95)
    met = p95 <= TARGET_P95_MS and app.missed <= TARGET_MISSED and ratio <= TARGET_RATIO
    print(f"load average after: {load_average()}")
    print(f"target_met={'yes' if met else 'no'}")
    print(f"sse_clients={app.clients} p95_ms={p95:.0f} missed={app.missed} vs_bare_sse={ratio:.2f}")


def run(args: argparse.Namespace, home: Path) -> int:
    """Seed the election, measure both servers, print the figures."""
    # two nodes of one site: the server and this process (which writes as another node) share
    # the database and the keys that sign the record's checkpoints
    for key in ("YUANJIAO_SECRET_KEY", "YUANJIAO_ID_HASH_KEY"):
        os.environ[key] = secrets.token_urlsafe(32)
    env = dict(os.environ)
    started = time.monotonic()
    election_id = seed_election(ballots=-(-args.updates // 2))
    print(
        f"{args.clients} viewers of each server in {args.client_processes} processes,"
        f" {args.updates} updates every {args.every} s in {BLOCKS} blocks per server;"
        f" load average before: {load_average()} (2 cores, shared)",
        flush=True,
    )
    app, bare = measure(args, home, election_id, env)
    print(f"total {time.monotonic() - started:.0f} s")
    report(app, bare)
    return 0


def main() -> int:
    """Measure, or play one role when started with a hidden option."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000, help="concurrent SSE viewers")
    parser.add_argument("--updates", type=int, default=200, help="tally updates to deliver")
    parser.add_argument("--every", type=float, default=0.25, help="seconds between updates")
    parser.add_argument(
        "--client-processes", type=int, default=2, help="processes the viewers share"
    )
    parser.add_argument("--watch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--record", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # a socket per viewer: raise the soft limit on open files to the hard one
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.bare:
        serve_bare(args.port)
        return 0
    if args.watch:
        import uvloop

        uvloop.run(watch(args.watch, args.port, args.path, args.record))
        return 0
    if min(args.clients, args.updates, args.client_processes) < 1 or args.every <= 0:
        parser.error("--clients, --updates and --client-processes start at 1; --every > 0")
    if hard < args.clients + 100:
        parser.error(f"the hard limit on open files ({hard}) is below --clients")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # run the finally blocks
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"gave up after {WALL_LIMIT} s"))
    signal.alarm(WALL_LIMIT)
    for name in list(os.environ):
        if name.startswith("YUANJIAO_"):
            del os.environ[name]
    with scratch_home("yuanjiao-bench-tally-") as home:
        return run(args, home)


if __name__ == "__main__":
    sys.exit(main())
