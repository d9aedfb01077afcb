"""The `yuanjiao` command as an operator meets it: on a fresh or old database, with engines
away or settings wrong (one line on stderr, exit code 1, never a traceback), and `doctor`."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.db import get_engine
from core.migrate import head_revision
from tests.s3 import free_port

YUANJIAO = str(Path(sys.executable).parent / "yuanjiao")
DEAD = "127.0.0.1:1"  # nothing listens on port 1


def yuanjiao(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real command with the test environment plus `env` (an empty value unsets)."""
    environment = {**os.environ, **env}
    for name in [name for name, value in environment.items() if value == ""]:
        del environment[name]
    return subprocess.run(
        [YUANJIAO, *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=env.get("YUANJIAO_HOME", os.getcwd()),
    )


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit code 1, no traceback, exactly one line on stderr, holding every one of `words`."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def fresh_home(tmp_path: Path) -> dict[str, str]:
    """The embedded default in a new, empty YUANJIAO_HOME (SQLite database, SQLite queue)."""
    return {
        "YUANJIAO_HOME": str(tmp_path),
        "YUANJIAO_DATABASE_URL": "",
        "YUANJIAO_QUEUE_URL": "",
        "YUANJIAO_STORAGE_URL": "",
    }


@pytest.fixture
def empty_external_database() -> Iterator[str]:
    """An empty PostgreSQL database beside the test one (only when the tests run on PostgreSQL)."""
    server = make_url(get_engine().url.render_as_string(hide_password=False))
    name = f"yj_cli_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.engine_neutral  # the embedded database, whatever the suite runs on
def test_embedded_database_is_migrated_by_any_command(fresh_home: dict[str, str]) -> None:
    result = yuanjiao("orgs", "add", "示范区委", "--kind", "district", **fresh_home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].isdigit()
    assert "no such table" not in result.stderr and "Traceback" not in result.stderr
    again = yuanjiao("orgs", "add", "邻区委", "--kind", "district", **fresh_home)
    assert again.returncode == 0, again.stderr


def test_external_database_behind_is_refused_in_one_line(request: pytest.FixtureRequest) -> None:
    if get_engine().dialect.name != "postgresql":
        # On SQLite the same command migrates instead (the test above); an older external
        # schema is only met on PostgreSQL.
        assert get_engine().dialect.name == "sqlite"
        return
    url = request.getfixturevalue("empty_external_database")
    refused = yuanjiao("orgs", "add", "示范区委", "--kind", "district", YUANJIAO_DATABASE_URL=url)
    assert_one_line_refusal(refused, "yuanjiao db upgrade")
    assert yuanjiao("db", "upgrade", YUANJIAO_DATABASE_URL=url).returncode == 0
    works = yuanjiao("orgs", "add", "示范区委", "--kind", "district", YUANJIAO_DATABASE_URL=url)
    assert works.returncode == 0, works.stderr


@pytest.mark.engine_neutral  # each case names its own engines
@pytest.mark.parametrize(
    ("command", "env", "words"),
    [
        pytest.param(
            ["orgs", "add", "x", "--kind", "district"],
            {"YUANJIAO_DATABASE_URL": f"postgresql+psycopg://yj:pw-secret@{DEAD}/yj"},
            [DEAD],
            id="database-unreachable",
        ),
        pytest.param(
            ["orgs", "add", "x", "--kind", "district"],
            {"YUANJIAO_DATABASE_URL": "sqlite:////nonexistent/directory/yuanjiao.db"},
            ["/nonexistent/directory"],
            id="database-missing",
        ),
        pytest.param(
            ["orgs", "add", "x", "--kind", "district"],
            {"YUANJIAO_DATABASE_URL": "mysql://root@localhost/yj"},
            ["YUANJIAO_DATABASE_URL"],
            id="database-url-unsupported",
        ),
        pytest.param(
            ["worker"],
            {"YUANJIAO_QUEUE_URL": f"redis://{DEAD}/0"},
            [DEAD],
            id="redis-unreachable",
        ),
        pytest.param(
            ["worker"],
            {"YUANJIAO_QUEUE_URL": "amqp://rabbit/yj"},
            ["YUANJIAO_QUEUE_URL"],
            id="queue-url-malformed",
        ),
        pytest.param(
            ["serve"],
            {"YUANJIAO_STORAGE_URL": f"s3://key:secret@{DEAD}/lessons"},
            [DEAD],
            id="s3-unreachable",
        ),
        pytest.param(
            ["serve"],
            {"YUANJIAO_STORAGE_URL": "ftp://files.example/lessons"},
            ["YUANJIAO_STORAGE_URL"],
            id="storage-url-malformed",
        ),
        pytest.param(
            ["serve"],
            {"YUANJIAO_STORAGE_URL": "s3://key:secret@minio:9000/Not_A_Bucket"},
            ["YUANJIAO_STORAGE_URL"],
            id="s3-url-malformed",
        ),
        pytest.param(
            ["serve"],
            {"YUANJIAO_MODE": "production", "YUANJIAO_SECRET_KEY": ""},
            ["YUANJIAO_SECRET_KEY"],
            id="key-missing-in-production",
        ),
        pytest.param(
            ["serve"],
            {"YUANJIAO_MODE": "production", "YUANJIAO_SECRET_KEY": "dev-session-key-change-me"},
            ["YUANJIAO_SECRET_KEY"],
            id="development-key-in-production",
        ),
        pytest.param(
            ["worker"],
            {
                "YUANJIAO_DATABASE_URL": f"postgresql+psycopg://yj@{DEAD}/yj",
                "YUANJIAO_ID_HASH_KEY": "",
            },
            ["YUANJIAO_ID_HASH_KEY"],
            id="key-missing-with-external-database",
        ),
        pytest.param(
            ["serve"],
            {"YUANJIAO_MODE": "staging"},
            ["YUANJIAO_MODE"],
            id="mode-unknown",
        ),
    ],
)
def test_engine_and_setting_failures_are_one_line(
    command: list[str], env: dict[str, str], words: list[str]
) -> None:
    if command == ["serve"]:  # should a check be missed, the server must not take a used port
        command = [*command, "--port", str(free_port())]
    result = yuanjiao(*command, timeout=60, **env)
    line = assert_one_line_refusal(result, *words)
    assert "pw-secret" not in line


@pytest.mark.engine_neutral  # the embedded default, whatever the suite runs on
def test_embedded_default_generates_its_keys_once_and_says_so(fresh_home: dict[str, str]) -> None:
    env = {**fresh_home, "YUANJIAO_SECRET_KEY": "", "YUANJIAO_ID_HASH_KEY": ""}
    first = yuanjiao("orgs", "add", "x", "--kind", "district", **env)
    assert first.returncode == 0, first.stderr
    assert "generated YUANJIAO_SECRET_KEY" in first.stderr
    key = Path(fresh_home["YUANJIAO_HOME"]) / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600
    second = yuanjiao("orgs", "add", "y", "--kind", "district", **env)
    assert second.returncode == 0 and "generated" not in second.stderr
    assert key.read_text() == key.read_text().strip() and len(key.read_text()) >= 32


def test_doctor_reports_every_engine_with_its_version() -> None:
    result = yuanjiao("doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    checks = report["checks"]
    assert report["ok"] is True and all(check["ok"] for check in checks.values())
    expected = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[get_engine().dialect.name]
    assert checks["database"]["engine"] == expected
    assert checks["database"]["version"][0].isdigit()
    assert checks["migrations"]["current"] == checks["migrations"]["head"] == head_revision()
    assert checks["storage"]["kind"] == "local"
    queue = checks["queue"]
    if os.environ["YUANJIAO_QUEUE_URL"].startswith("redis"):
        assert queue["engine"] == "Redis" and queue["version"][0].isdigit()
    else:
        assert queue["engine"] == "Huey SQLite"
    assert checks["ffmpeg"]["version"]
    assert all(place["free_bytes"] > 0 for place in checks["disk"]["places"])
    assert checks["jobs"]["queued_jobs"] == 0 and checks["jobs"]["queue_pending"] == 0

    text_form = yuanjiao("doctor")
    assert text_form.returncode == 0
    lines = text_form.stdout.strip().splitlines()
    assert len(lines) == len(checks)
    assert expected in text_form.stdout and checks["ffmpeg"]["version"] in text_form.stdout
    assert all("正常" in line for line in lines)  # the operator's language: Chinese by default


def test_doctor_fails_on_a_missing_engine_and_pending_migrations(
    fresh_home: dict[str, str],
) -> None:
    env = {**fresh_home, "YUANJIAO_QUEUE_URL": f"redis://{DEAD}/0"}
    result = yuanjiao("doctor", "--json", **env)
    assert result.returncode == 1
    checks = json.loads(result.stdout)["checks"]
    assert checks["queue"]["ok"] is False and DEAD in checks["queue"]["problem"]
    assert checks["migrations"]["ok"] is False and checks["migrations"]["current"] is None
    assert "yuanjiao db upgrade" in checks["migrations"]["problem"]
    assert checks["database"]["ok"] is True  # doctor reports; it changes nothing
    text_form = yuanjiao("doctor", **env)
    assert text_form.returncode == 1 and "Traceback" not in text_form.stderr
    assert "失败" in text_form.stdout


def test_doctor_checks_an_s3_store(s3_storage_url: str) -> None:
    result = yuanjiao("doctor", "--json", YUANJIAO_STORAGE_URL=s3_storage_url)
    storage = json.loads(result.stdout)["checks"]["storage"]
    assert storage["ok"] is True and storage["kind"] == "S3", result.stdout
    assert storage["endpoint"].startswith("http://127.0.0.1:")
