"""Group sessions on the site's machine: the rules (one open session, check-in once, codes
verified offline against the roster's check values, no end without a start) and the records
each step leaves in the outbox; the local app's routes and the origin check."""

import base64
import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.people.checkin import (
    CHECK_ITERATIONS,
    check_value,
    checkin_code,
    checkin_payload,
    parse_presented,
    site_salt,
)
from terminals.agent.local.app import create_app
from terminals.agent.local.sessions import GroupSessions, SessionRefused, frame_positions
from terminals.agent.outbox import Outbox
from terminals.agent.state import AgentConfig, AgentDir

SITE_ID = 7


def make_agent(root: Path, members: tuple[int, ...] = (11, 12, 13)) -> AgentDir:
    """An enrolled agent holding lessons 1 and 2 (2 incomplete) and a roster of `members`."""
    agent_dir = AgentDir(root)
    agent_dir.save(
        AgentConfig(
            server="http://127.0.0.1:9",  # nothing listens: the server is unreachable
            site_id=SITE_ID, site_name="站点", site_code="110101001001",
            device_id=1, public_key="", key_id="",
        )
    )  # fmt: skip
    agent_dir.save_token("t")
    course = {"id": 1, "title": "课程"}
    lessons = [
        {"id": 1, "title": "第一课", "course": course, "position": 1, "duration": 60.0,
         "rendition": {"name": "360p"}, "complete": True},
        {"id": 2, "title": "第二课", "course": course, "position": 2, "duration": 60.0,
         "rendition": {"name": "360p"}, "complete": False},
    ]  # fmt: skip
    agent_dir.save_index({"issued_at": "2026-01-01T00:00:00+00:00", "lessons": lessons})
    salt = site_salt(SITE_ID)
    agent_dir.save_roster(
        {
            "checkin": {"salt": base64.b64encode(salt).decode(), "iterations": CHECK_ITERATIONS},
            "members": [
                {"id": m, "name": f"党员{m}", "id_number_masked": "1101**********001X",
                 "org": "一支部",
                 "check": check_value(salt=salt, member_id=m, code=checkin_code(m),
                                      iterations=CHECK_ITERATIONS)}
                for m in members
            ],
        }
    )  # fmt: skip
    return agent_dir


def records(agent_dir: AgentDir) -> list[dict[str, object]]:
    return Outbox(agent_dir.outbox_path).pending(1000)


def test_a_session_runs_start_roll_call_beats_end(tmp_path: Path) -> None:
    agent_dir = make_agent(tmp_path)
    sessions = GroupSessions(agent_dir)
    session_id = sessions.start(title="  主题党日 ", lesson_ids=[1, 1])
    with pytest.raises(SessionRefused, match="already open"):
        sessions.start(title="again", lesson_ids=[1])
    sessions.check_in(session_id, 11, "list")
    with pytest.raises(SessionRefused, match="already checked in"):
        sessions.check_in(session_id, 11, "list")
    with pytest.raises(SessionRefused, match="already checked in"):
        sessions.check_in_code(session_id, checkin_code(11))  # the same member by code
    assert sessions.check_in_code(session_id, checkin_code(12))["id"] == 12
    assert sessions.check_in_code(session_id, checkin_payload(13))["id"] == 13
    with pytest.raises(SessionRefused, match="not on this site"):
        sessions.check_in(session_id, 99, "list")
    group = sessions.get(session_id)
    assert group.title == "主题党日" and group.lesson_ids == [1]
    assert group.present == {11: "list", 12: "pin", 13: "qr"} and group.expected == 3

    playback = sessions.issue_playback(1)
    beat = {"session_id": playback, "seq": 1, "clock": 12.0, "rate": 1, "visible": True,
            "intervals": [[0, 4.0], [10.0, 18.0]]}  # fmt: skip
    marks = sessions.record_beat(beat)
    assert [m.mark for m in marks] == ["start"]
    assert sessions.record_beat(beat) == []  # a replayed beat adds nothing
    sessions.end(session_id)
    late = {**beat, "seq": 2, "intervals": [[18.0, 40.0]]}
    assert sessions.record_beat(late) == []  # played after the end: no record
    with pytest.raises(SessionRefused, match="already ended"):
        sessions.end(session_id)
    with pytest.raises(SessionRefused, match="open group session"):
        sessions.check_in(session_id, 12, "list")

    kept = records(agent_dir)
    assert [r["seq"] for r in kept] == list(range(1, len(kept) + 1))
    assert [r["kind"] for r in kept] == [
        "session", "attendance", "attendance", "attendance", "interval", "interval", "session"
    ]  # fmt: skip
    assert [r["body"]["method"] for r in kept if r["kind"] == "attendance"] == ["list", "pin", "qr"]
    first, second = (r["body"] for r in kept if r["kind"] == "interval")
    # Wall times end at the beat's clock, one interval after the other.
    assert first["media_start"] == 0 and second["media_end"] == 18.0
    assert first["started_at"] < second["started_at"]


def test_refusals_leave_no_record(tmp_path: Path) -> None:
    agent_dir = make_agent(tmp_path)
    sessions = GroupSessions(agent_dir)
    with pytest.raises(SessionRefused, match="never started"):
        sessions.end("00000000-0000-0000-0000-000000000000")
    with pytest.raises(SessionRefused, match="title"):
        sessions.start(title=" ", lesson_ids=[1])
    with pytest.raises(SessionRefused, match="at least one lesson"):
        sessions.start(title="x", lesson_ids=[])
    with pytest.raises(SessionRefused, match="not held"):
        sessions.start(title="x", lesson_ids=[2])  # incomplete on disk
    session_id = sessions.start(title="x", lesson_ids=[1])
    wrong = str((int(checkin_code(11)) + 1) % 10**8).zfill(8)
    with pytest.raises(SessionRefused, match="No member"):
        sessions.check_in_code(session_id, wrong)
    with pytest.raises(SessionRefused, match="No member"):
        sessions.check_in_code(session_id, f"YJ1:12:{checkin_code(11)}")  # another's code
    with pytest.raises(SessionRefused, match="not a check-in code"):
        sessions.check_in_code(session_id, "hello")
    with pytest.raises(Exception, match="No open group session"):
        sessions.issue_playback(2)
    assert [r["kind"] for r in records(agent_dir)] == ["session"]


def test_codes_parse_and_frame_marks() -> None:
    code = checkin_code(5)
    assert len(code) == 8 and code.isdigit() and code == checkin_code(5) != checkin_code(6)
    assert parse_presented(f"{code[:4]} {code[4:]}") == (None, code)
    assert parse_presented(checkin_payload(5)) == (5, code)
    assert parse_presented("YJ1:x:1") is None and parse_presented("1234") is None
    assert frame_positions(60) == {"start": 2.0, "middle": 30.0, "end": 58.0}
    assert frame_positions(0) == {}


def test_the_local_app_refuses_other_origins_and_tells_errors(tmp_path: Path) -> None:
    agent_dir = make_agent(tmp_path)
    with TestClient(create_app(agent_dir), base_url="http://127.0.0.1:8765") as http:
        page = http.get("/")
        assert page.status_code == 200 and "第一课" in page.text and 'lang="zh-CN"' in page.text
        refused = http.post(
            "/sessions", data={"title": "x", "lesson_ids": "1"},
            headers={"Origin": "http://evil.example"},
        )  # fmt: skip
        assert refused.status_code == 403
        bad = http.post(
            "/sessions", data={"title": "x"}, headers={"Origin": "http://127.0.0.1:8765"}
        )
        assert bad.status_code == 400 and "至少" in bad.text
        started = http.post(
            "/sessions", data={"title": "会", "lesson_ids": "1"}, follow_redirects=False
        )
        assert started.status_code == 303
        session_id = started.headers["location"].rsplit("/", 1)[1]
        assert http.post(f"/sessions/{session_id}/code", data={"code": "0"}).status_code == 400
        assert http.post("/api/study/sessions", json={"lesson_id": 2}).status_code == 404
        assert http.post("/api/study/beats", content=b"not json").status_code == 400
        assert http.get("/content/../agent.json").status_code == 404
        assert http.get(f"/api/sessions/{session_id}").json()["expected"] == 3
        ended = http.post(f"/sessions/{session_id}/end", follow_redirects=False)
        assert ended.status_code == 303
        again = http.post(f"/sessions/{session_id}/end", headers={"Accept": "application/json"})
        assert again.status_code == 400 and json.loads(again.text)["detail"]


def test_the_local_app_beats_now_and_then_with_the_server_away(tmp_path: Path) -> None:
    """A heartbeat record every so often (power-on, disk free), and an upload try that fails
    quietly while the server is unreachable: the records wait in the outbox."""
    agent_dir = make_agent(tmp_path)
    with TestClient(create_app(agent_dir, heartbeat_seconds=0.2)):
        for _ in range(100):
            beats = [r for r in records(agent_dir) if r["kind"] == "heartbeat"]
            if len(beats) >= 2:
                break
            time.sleep(0.05)
    assert len(beats) >= 2
    assert beats[0]["body"]["from"] == "serve" and beats[0]["body"]["disk_free_bytes"] > 0


def test_the_local_player_offers_the_captions_the_box_holds(tmp_path: Path) -> None:
    agent_dir = make_agent(tmp_path)
    held = agent_dir.content_path("lessons/1/hls/captions/zh-CN.vtt")
    held.parent.mkdir(parents=True)
    held.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n同志们好\n", encoding="utf-8")
    with TestClient(create_app(agent_dir), base_url="http://127.0.0.1:8765") as http:
        lesson = http.get("/lessons/1").text
        assert (
            '<track kind="subtitles" srclang="zh-CN" label="中文"'
            ' src="/content/lessons/1/hls/captions/zh-CN.vtt" default>'
        ) in lesson
        assert 'srclang="en"' not in lesson  # not held here
        served = http.get("/content/lessons/1/hls/captions/zh-CN.vtt")
        assert served.status_code == 200 and "同志们好" in served.text
        assert served.headers["content-type"].startswith("text/vtt")
        assert "<track" not in http.get("/lessons/2").text
