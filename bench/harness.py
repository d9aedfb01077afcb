"""What the server benchmarks share: a throw-away YUANJIAO_HOME, the `yuanjiao` command, servers
started on loopback and stopped, and CPU time read from /proc."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

YUANJIAO = Path(sys.executable).with_name("yuanjiao")
STEP_TIMEOUT = 120.0  # seconds for one CLI step (a transcode included)
START_TIMEOUT = 30.0  # seconds for a server to answer
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@contextmanager
def scratch_home(prefix: str) -> Iterator[Path]:
    """A throw-away YUANJIAO_HOME, which is also the working directory meanwhile (so no stray
    .env file changes the settings); removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix=prefix)).resolve()
    os.environ["YUANJIAO_HOME"] = str(home)
    previous_cwd = Path.cwd()
    os.chdir(home)
    try:
        yield home
    finally:
        os.chdir(previous_cwd)
        shutil.rmtree(home, ignore_errors=True)


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run one `yuanjiao` command and return the last line it printed (the new id)."""
    command = [str(YUANJIAO), *args]
    try:
        done = subprocess.run(
            command, env=env, cwd=cwd, capture_output=True, text=True, timeout=STEP_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        raise SystemExit(f"timed out after {STEP_TIMEOUT:.0f} s: {' '.join(command)}") from exc
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}")
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_app(
    env: dict[str, str], home: Path, port: int, log: Path, *, embedded: bool = False
) -> subprocess.Popen[bytes]:
    """`yuanjiao serve` (one uvicorn process, no access log) on loopback, once it answers; with
    `embedded`, `yuanjiao run --no-demo` instead (web and worker in one process, as the
    single-machine default runs)."""
    role = ["run", "--no-demo"] if embedded else ["serve", "--no-access-log"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(YUANJIAO), *role, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process, log)
    except BaseException:
        stop(process)
        raise
    return process


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll `url` until it answers 200; fail with the server's log if it dies or times out."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise SystemExit(f"server did not answer {url} with 200 (exit code {process.poll()}):\n{tail}")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Terminate a server we started and reap it (kill it if it ignores SIGTERM)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    """CPU time of this process: the load generator."""
    times = os.times()
    return times.user + times.system


def load_average() -> str:
    """The machine's load average over the last minute, as the kernel gives it."""
    return Path("/proc/loadavg").read_text().split()[0]
