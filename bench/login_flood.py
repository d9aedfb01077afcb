"""Login flood benchmark: how many legitimate logins per second still succeed while a flood of
wrong passwords runs, as a ratio of the rate without the flood, measured in the same run; and the
server's memory meanwhile. Prints `flood_vs_quiet=R` last (target R >= 0.5).

One run sets up a throw-away YUANJIAO_HOME with an org, `--users` regular users, one user on a
new device and 30 further accounts, starts `yuanjiao serve` (one uvicorn process, default
settings: 2 hashing slots, 16 waiting per lane), then measures these phases in turn:

  quiet         the regular users log in again and again (login page, then the form) from the
                browser they used before: it holds a device cookie for their account;
  distributed   the same, while `--flood` connections post wrong passwords as fast as the server
                answers (each waits for its answer, as guessing tools do; the server answers a
                refused login after a second), each from a new random address (X-Forwarded-For,
                which the server trusts from loopback), at random accounts: the regular users'
                own, the 30 others, and unknown logins. No address and no unknown login ever
                reaches a lockout here, so every guess that gets a hashing slot costs a full
                argon2 check;
  concentrated  the same flood from 8 addresses (a new block each round), which the address
                lockouts can cut off.

The order is quiet, then `--rounds` times: distributed, quiet, concentrated, quiet. Each flood
phase is compared with the mean of the quiet phases on either side of it (the machine is shared,
so its speed drifts), and the median over the rounds is reported per kind of flood. The last
line is the worse of the two.

Meanwhile one more user logs in without a device cookie (a new phone, a new browser): their
rate is printed too, as `new_device_ratio`, but it is not the target figure: with no proof of
an earlier login such an attempt waits in the same lane as the flood.

The load generator is one asyncio process on the same 2-core machine (raw HTTP/1.1 keep-alive),
so it competes with the server; its CPU share is printed. The server's resident memory is sampled
every 50 ms: its peak in each phase is printed against its size at rest.

Run with `make bench` or `.venv/bin/python bench/login_flood.py --flood 300 --rounds 3`
(about 3 minutes with the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.harness
from bench.harness import (  # noqa: E402
    cpu_seconds,
    free_port,
    load_average,
    own_cpu_seconds,
    run_cli,
    scratch_home,
    start_app,
    stop,
)

PASSWORD = "Regular-user-pass-1"
NEW_DEVICE_LOGIN = "newphone"
OTHER_ACCOUNTS = 30
CONCENTRATED_ADDRESSES = 8
SETTLE_SECONDS = 6.0  # longer than PasswordSlots.MAX_WAIT
REQUEST_TIMEOUT = 30.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
CSRF = re.compile(rb'name="csrf-token" content="([^"]+)"')


# --- set-up ------------------------------------------------------------------------------------


def add_accounts(org_id: int, logins: list[str]) -> None:
    """Create the accounts in one transaction, all with one password hashed once (hashing each
    would only make the set-up slow)."""
    from core.db import get_engine, session_scope
    from core.people.models import Role, RoleGrant, User
    from core.security import hash_password

    password_hash = hash_password(PASSWORD)
    with session_scope() as session:
        for login in logins:
            user = User(login=login, display_name=login, password_hash=password_hash)
            session.add(user)
            session.flush()
            session.add(RoleGrant(user_id=user.id, org_id=org_id, role=Role.member))
    get_engine().dispose()


# --- measuring the server from /proc ----------------------------------------------------------


def rss_mib(pid: int) -> float:
    """Resident memory of a process now."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE / MIB


# --- a small HTTP/1.1 client -------------------------------------------------------------------


class Browser:
    """One keep-alive connection with a cookie jar: enough for a login form."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, *, form: dict[str, str] | None = None, address: str = ""
    ) -> tuple[int, bytes]:
        """Send one request (reconnecting if needed) and read the whole response."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        body = urlencode(form).encode() if form is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if address:
            head.append(f"X-Forwarded-For: {address}")
        if form is not None:
            head += [
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
            ]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                return await self._response(self.reader)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            self.close()
            raise

    async def _response(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status, length, close = int(lines[0].split(" ", 2)[1]), 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "set-cookie":
                cookie, _, _ = value.partition(";")
                key, _, cookie_value = cookie.partition("=")
                self.cookies[key] = cookie_value
            elif name == "connection" and value.lower() == "close":
                close = True
        content = await reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, content

    async def csrf(self) -> str:
        """Open the login page and read the form's CSRF token, as a browser would."""
        status, page = await self.request("GET", "/login")
        found = CSRF.search(page)
        if status != 200 or found is None:
            raise RuntimeError(f"login page answered {status}")
        return found.group(1).decode()

    def close(self) -> None:
        """Drop the connection."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Tally:
    """Logins that succeeded (their times), and answers counted by status."""

    successes: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def count(self, status: int) -> None:
        """Count one answer."""
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def within(self, start: float, end: float) -> int:
        """Successful logins completed between `start` and `end`."""
        return sum(1 for at in self.successes if start <= at < end)


async def regular_user(browser: Browser, login: str, tally: Tally, *, keep_device: bool) -> None:
    """Log in again and again: the login page, then the form; 303 means logged in. The browser
    (its cookies) is the same from phase to phase, as a person's own phone is."""
    while True:
        try:
            token = await browser.csrf()
            if not keep_device:
                browser.cookies.pop("yuanjiao_device", None)
            form = {"login": login, "password": PASSWORD, "csrf_token": token, "next": "/"}
            status, _ = await browser.request("POST", "/login", form=form)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            browser.close()
            await asyncio.sleep(0.05)
            continue
        tally.count(status)
        if status == 303:
            tally.successes.append(time.monotonic())
        else:
            await asyncio.sleep(0.05)  # a refused user waits a moment, as a person would


async def guesser(
    port: int, targets: list[str], tally: Tally, rng: random.Random, address: str | None
) -> None:
    """Post wrong passwords as fast as the server answers, from `address` or a new random one
    each time, at a known account or an unknown login."""
    browser = Browser(port)
    token = ""
    while True:
        try:
            token = token or await browser.csrf()
            login = rng.choice(targets) if rng.random() < 0.5 else f"ghost{rng.randrange(10**9)}"
            source = (
                address or f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            )
            form = {"login": login, "password": f"guess{rng.randrange(10**6)}", "csrf_token": token}
            status, _ = await browser.request("POST", "/login", form=form, address=source)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            browser.close()
            token = ""
            await asyncio.sleep(0.05)
            continue
        tally.count(status)
        if status == 403:
            token = ""


@dataclass
class Phase:
    """What one measured phase gave."""

    name: str
    flooded: bool
    seconds: float
    regular: int
    new_device: int
    flood: dict[int, int]
    peak_mib: float
    server_cpu: float
    client_cpu: float

    @property
    def regular_rate(self) -> float:
        """Successful regular logins per second."""
        return self.regular / self.seconds

    @property
    def new_device_rate(self) -> float:
        """Successful logins per second of the user on a new device."""
        return self.new_device / self.seconds


async def measure(
    *,
    name: str,
    port: int,
    pid: int,
    browsers: dict[str, Browser],
    flood: int,
    flood_targets: list[str],
    addresses: list[str] | None,
    warmup: float,
    seconds: float,
    seed: int,
) -> Phase:
    """Run the regular users (and a flood, if any), warm up, then count over `seconds`."""
    regular, newcomer, guesses = Tally(), Tally(), Tally()
    rng = random.Random(seed)
    tasks = [
        asyncio.create_task(
            regular_user(
                browser,
                login,
                newcomer if login == NEW_DEVICE_LOGIN else regular,
                keep_device=login != NEW_DEVICE_LOGIN,
            )
        )
        for login, browser in browsers.items()
    ]
    for number in range(flood):
        address = addresses[number % len(addresses)] if addresses else None
        guessing = guesser(port, flood_targets, guesses, random.Random(rng.random()), address)
        tasks.append(asyncio.create_task(guessing))
    peak = 0.0

    async def sample_memory() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss_mib(pid))
            await asyncio.sleep(0.05)

    try:
        await asyncio.sleep(warmup)
        guesses.statuses.clear()
        sampler = asyncio.create_task(sample_memory())
        tasks.append(sampler)
        server_start, client_start = cpu_seconds(pid), own_cpu_seconds()
        began = time.monotonic()
        await asyncio.sleep(seconds)
        ended = time.monotonic()
        return Phase(
            name=name,
            flooded=flood > 0,
            seconds=ended - began,
            regular=regular.within(began, ended),
            new_device=newcomer.within(began, ended),
            flood=dict(guesses.statuses),
            peak_mib=peak,
            server_cpu=cpu_seconds(pid) - server_start,
            client_cpu=own_cpu_seconds() - client_start,
        )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for browser in browsers.values():
            browser.close()
        await asyncio.sleep(0.5)  # let the server see the connections close


def describe(phase: Phase) -> str:
    """One line of figures for a phase."""
    flood = sum(phase.flood.values())
    parts = [
        f"{phase.name:13} regular {phase.regular_rate:5.1f}/s  new device"
        f" {phase.new_device_rate:4.1f}/s",
    ]
    if flood:
        shares = ", ".join(
            f"{_STATUS.get(code, str(code))} {count / flood:.0%}"
            for code, count in sorted(phase.flood.items())
        )
        parts.append(f"  flood {flood / phase.seconds:6.0f} guesses/s ({shares})")
    parts.append(
        f"  peak RSS {phase.peak_mib:5.0f} MiB  server CPU {phase.server_cpu / phase.seconds:4.0%}"
        f" of a core, load generator {phase.client_cpu / phase.seconds:4.0%}"
    )
    return "".join(parts)


_STATUS = {401: "checked and wrong", 429: "locked", 503: "busy", 403: "csrf"}


def plan(rounds: int) -> list[tuple[str, list[str] | None]]:
    """The phases: quiet, then per round a distributed flood, quiet, a concentrated flood (from
    a fresh block of addresses each round), quiet; each flood sits between two quiet phases."""
    phases: list[tuple[str, list[str] | None]] = [("quiet", None)]
    for number in range(rounds):
        block = [f"172.16.{number}.{host + 1}" for host in range(CONCENTRATED_ADDRESSES)]
        phases += [("distributed", None), ("quiet", None), ("concentrated", block), ("quiet", None)]
    return phases


def flood_ratios(phases: list[Phase], *, regular: bool) -> dict[str, float]:
    """Per kind of flood, the median over rounds of its login rate against the mean of the quiet
    phases before and after it (regular users, or the user on a new device)."""

    def rate(phase: Phase) -> float:
        return phase.regular_rate if regular else phase.new_device_rate

    found: dict[str, list[float]] = {}
    for index, phase in enumerate(phases):
        if phase.flooded:
            quiet = (rate(phases[index - 1]) + rate(phases[index + 1])) / 2
            found.setdefault(phase.name, []).append(rate(phase) / quiet if quiet else 0.0)
    return {name: statistics.median(ratios) for name, ratios in found.items()}


def report(phases: list[Phase], idle: float) -> None:
    """The ratios per kind of flood and the memory figures."""
    regular, new_device = flood_ratios(phases, regular=True), flood_ratios(phases, regular=False)
    print(
        "login rate under flood vs quiet (median over rounds): regular users "
        + ", ".join(f"{name} {ratio:.2f}" for name, ratio in regular.items())
        + "; new device "
        + ", ".join(f"{name} {ratio:.2f}" for name, ratio in new_device.items())
    )
    peak_quiet = max(p.peak_mib for p in phases if not p.flooded)
    peak_flood = max(p.peak_mib for p in phases if p.flooded)
    print(
        f"memory: idle {idle:.0f} MiB, peak quiet {peak_quiet:.0f} MiB, peak under flood"
        f" {peak_flood:.0f} MiB (argon2: 64 MiB per hash, at most 2 at once)"
    )
    print(
        f"new_device_ratio={min(new_device.values()):.2f}"
        f" peak_rss_flood_vs_quiet={peak_flood / peak_quiet:.2f}"
        f" peak_rss_flood_vs_idle={peak_flood / idle:.2f}"
    )


def main() -> int:
    """Check the arguments, then run the benchmark in a throw-away home."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4, help="regular users logging in")
    parser.add_argument("--flood", type=int, default=200, help="concurrent guessing connections")
    parser.add_argument("--seconds", type=float, default=12.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per phase")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of both floods")
    args = parser.parse_args()
    if min(args.users, args.flood, args.rounds) < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--users, --flood, --rounds and --seconds must be positive, --warmup >= 0")
    for name in list(os.environ):
        if name.startswith("YUANJIAO_"):
            del os.environ[name]
    with scratch_home("yuanjiao-bench-login-") as home:
        return run(args, home)


def run(args: argparse.Namespace, home: Path) -> int:
    """Set up in `home`, start the server, measure the phases, print the ratio last."""
    env = dict(os.environ)
    server: subprocess.Popen[bytes] | None = None
    try:
        started = time.monotonic()
        run_cli(env, home, "db", "upgrade")
        org_id = int(run_cli(env, home, "orgs", "add", "基准区委", "--kind", "district"))
        users = [f"user{n}" for n in range(args.users)]
        others = [f"member{n}" for n in range(OTHER_ACCOUNTS)]
        add_accounts(org_id, [*users, NEW_DEVICE_LOGIN, *others])
        port = free_port()
        log = home / "server.log"
        server = start_app(env, home, port, log)
        time.sleep(1.0)
        idle = rss_mib(server.pid)
        print(
            f"set-up {time.monotonic() - started:.0f} s; server `yuanjiao serve` (one process),"
            f" idle RSS {idle:.0f} MiB; {args.users} regular users with a device cookie, 1 on a"
            f" new device; flood: {args.flood} connections, wrong passwords at the regular users,"
            f" {OTHER_ACCOUNTS} other accounts and unknown logins"
        )
        print(
            f"machine: {os.cpu_count()} cores, load average (1 min) before measuring:"
            f" {load_average()}"
        )
        browsers = {login: Browser(port) for login in [*users, NEW_DEVICE_LOGIN]}
        phases: list[Phase] = []
        for seed, (name, addresses) in enumerate(plan(args.rounds)):
            if phases and phases[-1].flooded:
                time.sleep(SETTLE_SECONDS)  # guesses still waiting for a slot give up meanwhile
            phase = asyncio.run(
                measure(
                    name=name,
                    port=port,
                    pid=server.pid,
                    browsers=browsers,
                    flood=0 if name == "quiet" else args.flood,
                    flood_targets=[*users, *others],
                    addresses=addresses,
                    warmup=args.warmup,
                    seconds=args.seconds,
                    seed=seed,
                )
            )
            phases.append(phase)
            print(describe(phase), flush=True)
            if server.poll() is not None:
                raise SystemExit(f"the server died: {log.read_text(errors='replace')[-3000:]}")
        if any(p.regular == 0 for p in phases if not p.flooded):
            print("error: a quiet phase had no successful login", file=sys.stderr)
            return 1
        report(phases, idle)
        print(f"total {time.monotonic() - started:.0f} s")
        print(f"flood_vs_quiet={min(flood_ratios(phases, regular=True).values()):.2f}")
        return 0
    finally:
        stop(server)


if __name__ == "__main__":
    sys.exit(main())
