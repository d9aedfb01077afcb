"""The site agent against a real server process: enrol, sync on the local store and on S3,
resume a broken download, replace a corrupted file, purge what is no longer assigned, keep to a
disk quota, and upload its outbox; the CLI commands end to end."""

import hashlib
import json
import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.people.models import Role
from core.storage import ObjectStore, get_store, open_store
from terminals.agent.outbox import Outbox
from terminals.agent.state import AgentDir
from terminals.agent.sync import agent_status, enrol_agent, run_sync
from terminals.sites.holdings import downloads_of
from terminals.sync.models import SiteRecord
from tests.factories import Tree, log_in, make_user
from tests.server import YUANJIAO, running_server
from tests.terminals.sync_fixtures import assign, make_course_of, make_site, new_code, publish
from web.app import create_app

CODE = "agent-code-0001"


def _files(agent_dir: AgentDir) -> dict[str, bytes]:
    return {
        p.relative_to(agent_dir.content).as_posix(): p.read_bytes()
        for p in agent_dir.content.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_an_agent_enrols_syncs_resumes_repairs_and_purges(
    backend: str, request: pytest.FixtureRequest, session: Session, tree: Tree, tmp_path: Path
) -> None:
    env: dict[str, str] = {}
    store: ObjectStore = get_store()
    if backend == "s3":
        url = request.getfixturevalue("s3_bucket_url")
        store, env = open_store(url), {"YUANJIAO_STORAGE_URL": url}
    course = make_course_of(session, tree)
    first = publish(session, store, course, "第一课")
    second = publish(session, store, course, "第二课", segments=4)
    site = make_site(session, tree.branch, "500101001001", tier="demonstration", enrol=CODE)
    assign(session, site, first)
    dropped = assign(session, site, second)
    agent_dir = AgentDir(tmp_path / "agent")
    outbox = Outbox(tmp_path / "agent" / "outbox.db")
    with running_server(tmp_path, env=env) as server:
        enrol_agent(agent_dir, server=server.url, code=CODE)
        assert (agent_dir.root / "token").stat().st_mode & 0o777 == 0o600
        session_id = str(uuid.uuid4())
        for event in ("started", "ended"):
            outbox.append_record("session", {"session_id": session_id, "event": event,
                                             "at": datetime.now(UTC).isoformat()})  # fmt: skip

        summary = run_sync(agent_dir)
        assert summary.errors == [], server.log_tail()
        assert (summary.lessons, summary.lessons_complete) == (2, 2)
        assert summary.files_downloaded == 2 * 6 + 1  # playlist, init, segments, poster
        assert summary.bytes_downloaded == summary.bytes_held
        assert (summary.records_sent, summary.records_acked, summary.records_pending) == (2, 2, 0)
        held = _files(agent_dir)
        assert f"lessons/{first.id}/hls/480p/seg_00003.m4s" in held
        assert not any("360p" in path for path in held)  # the tier's rendition only
        for path, data in held.items():
            assert data == store.get_bytes(path), path

        # A download broken off halfway resumes from its .part; a corrupted file is replaced.
        broken = agent_dir.content_path(f"lessons/{second.id}/hls/480p/seg_00004.m4s")
        whole = broken.read_bytes()
        broken.unlink()
        broken.with_name(broken.name + ".part").write_bytes(whole[: len(whole) // 2])
        corrupted = agent_dir.content_path(f"lessons/{first.id}/hls/480p/seg_00001.m4s")
        corrupted.write_bytes(b"\0" * corrupted.stat().st_size)
        again = run_sync(agent_dir)
        assert again.files_downloaded == 2 and again.errors == []
        assert again.bytes_downloaded == len(whole) - len(whole) // 2 + len(
            held[corrupted.relative_to(agent_dir.content).as_posix()]
        )  # noqa: E501
        assert _files(agent_dir) == held

        # Unassigned content is purged.
        dropped.removed_at = utcnow()
        session.commit()
        purged = run_sync(agent_dir)
        assert purged.files_purged == 6 + 1 and purged.lessons == 1
        assert not (agent_dir.content / "lessons" / str(second.id)).exists()
        status = agent_status(agent_dir)
        assert status["lessons_held"] == 1 and status["outbox_pending"] == 0
        assert status["disk_used_bytes"] == sum(
            len(d) for p, d in held.items() if p.startswith(f"lessons/{first.id}/")
        )
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(SiteRecord)) == 2


def test_downloads_wait_for_the_reception_plan(
    session: Session, tree: Tree, tmp_path: Path
) -> None:
    lesson = publish(session, get_store(), make_course_of(session, tree), "第一课", segments=1)
    site = make_site(session, tree.branch, "500101001001", enrol=CODE)
    hour = datetime.now().hour
    site.download_windows = [f"{(hour + 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00"]
    session.commit()
    assign(session, site, lesson)
    agent_dir = AgentDir(tmp_path / "agent")
    with running_server(tmp_path) as server:
        enrol_agent(agent_dir, server=server.url, code=CODE)
        waiting = run_sync(agent_dir)
        assert not waiting.download_allowed and waiting.files_downloaded == 0
        assert "reception plan" in waiting.errors[0] and waiting.lessons_complete == 0
        assert downloads_of(session=session, site_id=site.id)[lesson.id].state == "waiting"
        now = run_sync(agent_dir, any_time=True)
        assert now.files_downloaded == 3 + 1 and now.lessons_complete == 1  # one segment


@pytest.mark.engine_neutral  # the agent's quota and CLI; the server side runs on both above
def test_the_quota_is_kept_and_the_cli_works(session: Session, tree: Tree, tmp_path: Path) -> None:
    store = get_store()
    course = make_course_of(session, tree)
    small = publish(session, store, course, "短课", segments=1, segment_bytes=1000)
    large = publish(session, store, course, "长课", segments=4, segment_bytes=200_000)
    site = make_site(session, tree.branch, "500101001001", enrol=CODE)
    assign(session, site, large)
    assign(session, site, small)
    directory = tmp_path / "agent"
    environment = {**os.environ, "YUANJIAO_DEFAULT_LOCALE": "en"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [YUANJIAO, "terminal", *args, "--dir", str(directory)],
            capture_output=True, text=True, timeout=120, env=environment,
        )  # fmt: skip

    with running_server(tmp_path) as server:
        enrolled = cli("enroll", "--server", server.url, "--code", CODE, "--quota", "100000")
        assert enrolled.returncode == 0, enrolled.stderr
        refused = cli("enroll", "--server", server.url, "--code", CODE)
        assert refused.returncode == 1 and "enrolment code" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        synced = cli("sync", "--json")
        assert synced.returncode == 0, synced.stderr
        summary = json.loads(synced.stdout)
        assert summary["lessons_skipped"] == [large.id] and summary["lessons_complete"] == 1
        assert "quota" in summary["errors"][0]
        assert summary["bytes_held"] <= 100_000
        session.expire_all()
        held = downloads_of(session=session, site_id=site.id)
        assert (held[large.id].state, held[large.id].percent) == ("no_room", 0)
        assert (held[small.id].state, held[small.id].percent) == ("complete", 100)
        status = json.loads(cli("status", "--json").stdout)
        assert status["lessons_held"] == 1 and status["lessons_assigned"] == 2
        assert status["site"]["id"] == site.id
        bigger = cli("sync", "--json", "--quota", str(2_000_000))
        assert json.loads(bigger.stdout)["lessons_complete"] == 2
        make_user(session, "agent-admin", Role.org_admin, tree.district)
        with TestClient(create_app()) as client:
            log_in(client, "agent-admin")
            listed = client.get(f"/api/sites/{site.id}/lessons").json()
        assert {row["lesson_id"]: row["download_state"] for row in listed} == {
            small.id: "complete",
            large.id: "complete",
        }
        plain = cli("status")
        assert plain.returncode == 0 and "2 / 2" in plain.stdout

        # Enrolling again rotates the token but keeps the agent's id, sequence and content.
        agent_id = json.loads((directory / "agent.json").read_text())["agent_id"]
        old_token = (directory / "token").read_text()
        new_code(session, site, "agent-code-0002")
        assert cli("enroll", "--server", server.url, "--code", "agent-code-0002").returncode == 0
        assert json.loads((directory / "agent.json").read_text())["agent_id"] == agent_id
        assert (directory / "token").read_text() != old_token
        resynced = json.loads(cli("sync", "--json").stdout)
        assert resynced["files_downloaded"] == 0 and resynced["lessons_complete"] == 2
    index = json.loads((directory / "index.json").read_text())
    for path, entry in index["files"].items():
        data = (directory / "content" / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]


@pytest.mark.engine_neutral  # the agent alone: no server, no database
def test_an_unenrolled_directory_and_an_absent_server_are_told_clearly(
    session: Session, tree: Tree, tmp_path: Path
) -> None:
    environment = {**os.environ, "YUANJIAO_DEFAULT_LOCALE": "en"}
    run = subprocess.run(
        [YUANJIAO, "terminal", "sync", "--dir", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=60, env=environment,
    )  # fmt: skip
    assert run.returncode == 1 and "terminal enroll" in run.stderr
    serve = subprocess.run(
        [YUANJIAO, "terminal", "serve", "--dir", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=60, env=environment,
    )  # fmt: skip
    assert serve.returncode == 1 and "terminal enroll" in serve.stderr
    assert len(serve.stderr.strip().splitlines()) == 1
    gone = subprocess.run(
        [YUANJIAO, "terminal", "enroll", "--server", "http://127.0.0.1:9", "--code", "abcd1234",
         "--dir", str(tmp_path / "a")],
        capture_output=True, text=True, timeout=120, env=environment,
    )  # fmt: skip
    assert gone.returncode == 1 and "cannot be reached" in gone.stderr
