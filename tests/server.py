"""A real `yuanjiao` server process on loopback, on the test run's database, store and queue."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

YUANJIAO = str(Path(sys.executable).parent / "yuanjiao")


@dataclass
class Server:
    """A started server: its process, base URL and log file."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def log_tail(self) -> str:
        """The end of the server's log, for failure messages."""
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_healthy(server: Server, timeout: float = 60.0) -> None:
    """Poll /healthz until it answers 200; fail with the log if the server dies or is slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server did not become healthy:\n{server.log_tail()}")


@contextmanager
def running_server(
    log_dir: Path, *args: str, command: str = "serve", env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Start `yuanjiao serve` (or `run --no-demo`, or `media`) with extra environment; stopped
    after."""
    port = free_port()
    log = log_dir / f"server-{port}.log"
    extra = {"run": ("--no-demo",), "serve": ("--no-access-log",)}.get(command, ())
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [YUANJIAO, command, "--port", str(port), *extra, *args],
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
