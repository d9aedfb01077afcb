"""Pytest fixtures: a real S3-protocol server on loopback for the S3 store and its users.

MinIO runs when a server binary is found ($MINIO_BINARY or `minio` on PATH); otherwise moto's
standalone server (moto[server]: flask, flask-cors) stands in. Either runs in its own process and
is spoken to over HTTP, exactly as the product speaks to S3.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
from fastapi.testclient import TestClient

from core.storage import ObjectStore, get_store, open_store
from web.app import create_app

ACCESS_KEY = "yuanjiao-test"
# Contains '/' and '+' on purpose: storage URLs must carry them percent-encoded.
SECRET_KEY = "yj/secret+key-2024"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class S3Server:
    """A running S3-protocol server: where it listens and the credentials it accepts."""

    kind: str
    host: str
    port: int
    access_key: str
    secret_key: str

    @property
    def endpoint(self) -> str:
        """host:port as the storage URL names it."""
        return f"{self.host}:{self.port}"

    def url(self, bucket: str, **options: str) -> str:
        """An s3:// storage URL for `bucket` on this server, with percent-encoded credentials."""
        credentials = f"{quote(self.access_key, safe='')}:{quote(self.secret_key, safe='')}"
        query = urlencode({"secure": "false", **options})
        return f"s3://{credentials}@{self.endpoint}/{bucket}?{query}"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unique_bucket() -> str:
    """A bucket name no other test uses."""
    return f"yuanjiao-test-{secrets.token_hex(6)}"


def _minio_binary() -> str | None:
    return os.environ.get("MINIO_BINARY") or shutil.which("minio")


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll `url` until the server answers; fail with its log if it dies or never answers."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"S3 test server exited with {process.returncode}:\n{log.read_text()}"
            )
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"S3 test server did not answer {url} in {START_TIMEOUT}s:\n{log.read_text()}"
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Start MinIO (if available) or moto's server on a free loopback port for the session."""
    workdir = tmp_path_factory.mktemp("s3-server")
    port = free_port()
    binary = _minio_binary()
    env = dict(os.environ)
    if binary is not None:
        kind = "minio"
        command = [
            binary,
            "server",
            str(workdir / "data"),
            "--address",
            f"127.0.0.1:{port}",
            "--console-address",
            f"127.0.0.1:{free_port()}",
            "--quiet",
        ]
        env.update(MINIO_ROOT_USER=ACCESS_KEY, MINIO_ROOT_PASSWORD=SECRET_KEY, MINIO_BROWSER="off")
        health = f"http://127.0.0.1:{port}/minio/health/live"
    else:
        kind = "moto"
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        health = f"http://127.0.0.1:{port}/"
    log = workdir / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_until_ready(process, health, log)
        yield S3Server(kind, "127.0.0.1", port, ACCESS_KEY, SECRET_KEY)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def s3_storage_url(s3_server: S3Server) -> str:
    """An s3:// storage URL for one bucket shared by the whole session (created on open)."""
    return s3_server.url(unique_bucket())


@pytest.fixture
def s3_bucket_url(s3_server: S3Server) -> str:
    """An s3:// storage URL for a fresh, empty bucket for this test only."""
    return s3_server.url(unique_bucket())


@pytest.fixture
def s3_store(s3_bucket_url: str) -> ObjectStore:
    """The object store on a fresh bucket of the test server."""
    return open_store(s3_bucket_url)


@pytest.fixture
def s3_client(s3_store: ObjectStore) -> Iterator[TestClient]:
    """A client of the app whose routes use `s3_store` as their object store."""
    app = create_app()
    app.dependency_overrides[get_store] = lambda: s3_store
    with TestClient(app) as test_client:
        yield test_client
