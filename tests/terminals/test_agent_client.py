"""The agent's downloads over a link that breaks: a small HTTP server on loopback cuts the first
response off halfway, and the agent resumes with a Range request; a wrong digest is dropped. With
no server at all, a sync fails clearly and keeps a heartbeat in the outbox for later."""

import hashlib
import http.server
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from terminals.agent.client import FileCorrupt, ServerAway, ServerClient
from terminals.agent.outbox import KEEP_STORED, Outbox
from terminals.agent.state import AgentConfig, AgentDir
from terminals.agent.sync import run_sync

BLOB = os.urandom(300_000)


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Serves BLOB with Range; the first whole-file answer stops after a third of it."""

    ranges: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        wanted = self.headers.get("Range")
        self.ranges.append(wanted)
        start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted else 0
        body = BLOB[start:]
        self.send_response(206 if wanted else 200)
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if len(self.ranges) == 1:
            self.wfile.write(body[: len(BLOB) // 3])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def flaky_server() -> Iterator[str]:
    _Flaky.ranges = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_broken_download_resumes_with_a_range_request(flaky_server: str, tmp_path: Path) -> None:
    client = ServerClient(flaky_server, token="t")
    part = tmp_path / "seg.m4s.part"
    digest = hashlib.sha256(BLOB).hexdigest()
    try:
        moved = client.download("/blob", part, size=len(BLOB), sha256=digest)
    finally:
        client.close()
    assert part.read_bytes() == BLOB
    assert _Flaky.ranges == [None, f"bytes={len(BLOB) // 3}-"]
    assert moved == len(BLOB)


def test_a_download_with_the_wrong_digest_is_dropped(flaky_server: str, tmp_path: Path) -> None:
    client = ServerClient(flaky_server)
    part = tmp_path / "seg.m4s.part"
    try:
        with pytest.raises(FileCorrupt):
            client.download("/blob", part, size=len(BLOB), sha256="0" * 64)
    finally:
        client.close()
    assert not part.exists()


def test_without_a_server_a_sync_fails_clearly_and_keeps_a_heartbeat(tmp_path: Path) -> None:
    agent_dir = AgentDir(tmp_path / "agent")
    agent_dir.save(
        AgentConfig(
            server="http://127.0.0.1:9",
            site_id=1,
            site_name="站点",
            site_code="500101001001",
            device_id=1,
            public_key="",
            key_id="",
        )
    )
    agent_dir.save_token("token")
    with pytest.raises(ServerAway, match="cannot be reached"):
        run_sync(agent_dir)
    [beat] = Outbox(agent_dir.outbox_path).pending(10)
    assert beat["kind"] == "heartbeat" and beat["seq"] == 1
    assert beat["body"]["disk_free_bytes"] > 0


def test_reception_windows() -> None:
    from datetime import datetime

    from terminals.agent.sync import within_windows

    at = datetime(2026, 11, 28, 23, 30)
    assert within_windows([], at) and within_windows(["nonsense"], at)
    assert within_windows(["22:00-06:00"], at)
    assert within_windows(["22:00-06:00"], at.replace(hour=5, minute=59))
    assert not within_windows(["22:00-06:00"], at.replace(hour=6, minute=0))
    assert not within_windows(["08:00-12:00", "14:00-18:00"], at)
    assert within_windows(["08:00-12:00", "14:00-18:00"], at.replace(hour=14))


def test_stored_records_leave_the_outbox_after_a_while_and_numbers_go_on(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    body = {"disk_free_bytes": 1}
    long_ago = datetime.now(UTC) - KEEP_STORED - timedelta(days=1)
    for _ in range(2):
        outbox.append_record("heartbeat", body, occurred_at=long_ago)
    outbox.append_record("heartbeat", body)
    assert outbox.acknowledge(2) == 2  # the old ones: stored, and deleted at once
    assert [r["seq"] for r in outbox.pending(10)] == [3]
    assert outbox.acknowledge(3) == 1 and outbox.pending_count() == 0
    with sqlite3.connect(outbox.path) as db:
        assert db.execute("SELECT seq FROM records").fetchall() == [(3,)]  # recent: kept
    assert outbox.append_record("heartbeat", body)[0] == 4  # never a number again
