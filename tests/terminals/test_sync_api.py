"""The sync API: enrolment and token rotation, heartbeats, signed manifests, the file route, and
record upload (stored once, high-water marks, bad input)."""

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.people.checkin import check_value, checkin_code
from core.people.logins import renew_checkin_code
from core.storage import get_store
from terminals.agent.state import AgentConfig
from terminals.agent.sync import verify_manifest
from terminals.sites.holdings import downloads_of
from terminals.sites.models import Site, SiteDevice, SiteStatus
from terminals.sync.errors import ManifestRejected
from terminals.sync.models import LessonFile, SiteHeartbeat, SiteRecord
from terminals.sync.roster import site_roster
from terminals.sync.signing import open_envelope
from tests.factories import Tree
from tests.terminals.study import make_member
from tests.terminals.sync_fixtures import (
    assign,
    make_course_of,
    make_site,
    new_code,
    publish,
    write_media,
)

CODE = "enrol-code-0001"


@pytest.fixture
def client(client: TestClient) -> TestClient:
    """The app's client, reading errors in English."""
    client.cookies.set("lang", "en")
    return client


def _enrol(client: TestClient, code: str = CODE) -> dict[str, Any]:
    response = client.post("/api/terminal/enrol", json={"code": code, "hostname": "box"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_enrolment_gives_a_token_once_and_rotates_it(
    client: TestClient, session: Session, tree: Tree
) -> None:
    site = make_site(session, tree.branch, "500101001001", enrol=CODE)
    wrong = client.post("/api/terminal/enrol", json={"code": "nope-nope"})
    assert wrong.status_code == 400 and "enrolment code" in wrong.json()["detail"]
    first = _enrol(client)
    assert first["site"]["id"] == site.id
    assert base64.b64decode(first["public_key"]) and len(first["key_id"]) == 16
    session.expire_all()
    assert session.get_one(Site, site.id).status == SiteStatus.active
    device = session.get_one(SiteDevice, first["device_id"])
    assert device.token_hash != first["token"] and len(device.token_hash) == 64
    again = client.post("/api/terminal/enrol", json={"code": CODE})
    assert again.status_code == 400  # the code worked once
    beat = client.post("/api/terminal/heartbeat", json={}, headers=_auth(first["token"]))
    assert beat.status_code == 200

    new_code(session, site, "enrol-code-0002")
    second = _enrol(client, "enrol-code-0002")
    refused = client.post("/api/terminal/heartbeat", json={}, headers=_auth(first["token"]))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert client.get("/api/terminal/manifest", headers=_auth(second["token"])).status_code == 200

    site = session.get_one(Site, site.id)
    site.status = SiteStatus.suspended
    session.commit()
    suspended = client.get("/api/terminal/manifest", headers=_auth(second["token"]))
    assert suspended.status_code == 403 and "suspended" in suspended.json()["detail"]


def test_an_expired_code_is_refused(client: TestClient, session: Session, tree: Tree) -> None:
    site = make_site(session, tree.branch, "500101001001", enrol=CODE)
    site.enrolment_code_expires_at = datetime.now(UTC) - timedelta(minutes=1)
    session.commit()
    assert client.post("/api/terminal/enrol", json={"code": CODE}).status_code == 400


def test_heartbeats_are_kept_and_mark_the_device_seen(
    client: TestClient, session: Session, tree: Tree
) -> None:
    make_site(session, tree.branch, "500101001001", enrol=CODE)
    enrolled = _enrol(client)
    body = {
        "powered_on_at": "2026-11-28T06:00:00+08:00",
        "now_playing": 7,
        "disk_free_bytes": 123456789,
        "agent_version": "1.2.3",
        "last_sync_at": None,
        "sent_at": datetime.now(UTC).isoformat(),
    }
    response = client.post("/api/terminal/heartbeat", json=body, headers=_auth(enrolled["token"]))
    assert response.status_code == 200
    beat = session.scalars(select(SiteHeartbeat)).one()
    assert (beat.now_playing, beat.disk_free_bytes, beat.agent_version) == (7, 123456789, "1.2.3")
    assert beat.powered_on_at == datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    device = session.get_one(SiteDevice, enrolled["device_id"])
    assert device.agent_version == "1.2.3" and device.last_seen_at is not None
    bad = client.post(
        "/api/terminal/heartbeat", json={"disk_free_bytes": -1}, headers=_auth(enrolled["token"])
    )
    assert bad.status_code == 422


def test_a_holdings_report_replaces_the_last_and_keeps_only_real_lessons(
    client: TestClient, session: Session, tree: Tree
) -> None:
    course = make_course_of(session, tree)
    first = publish(session, get_store(), course, "第一课")
    second = publish(session, get_store(), course, "第二课")
    make_site(session, tree.branch, "500101001001", enrol=CODE)
    headers = _auth(_enrol(client)["token"])

    def line(lesson_id: int, held: int, **more: Any) -> dict[str, Any]:
        return {"lesson_id": lesson_id, "files_held": held, "files_total": 4,
                "bytes_held": held * 100, "bytes_total": 400, **more}  # fmt: skip

    issued = datetime.now(UTC).isoformat()
    report = {"manifest_issued_at": issued, "lessons": [line(first.id, 4), line(second.id, 1),
                                                        line(999_999, 4)]}  # fmt: skip
    kept = client.put("/api/terminal/holdings", json=report, headers=headers)
    assert kept.status_code == 200 and kept.json() == {"kept": 2}  # no such lesson as 999999
    held = downloads_of(session=session, site_id=_the_site(session).id)
    assert (held[first.id].state, held[second.id].state) == ("complete", "partial")
    assert held[second.id].percent == 25

    purged = {"manifest_issued_at": issued, "lessons": [line(second.id, 0, no_room=True)]}
    assert client.put("/api/terminal/holdings", json=purged, headers=headers).status_code == 200
    session.expire_all()
    held = downloads_of(session=session, site_id=_the_site(session).id)
    assert list(held) == [second.id] and held[second.id].state == "no_room"

    for bad in ({"lessons": []}, {**purged, "lessons": [line(first.id, -1)]}, {**purged, "x": 1}):
        assert client.put("/api/terminal/holdings", json=bad, headers=headers).status_code == 422
    assert client.put("/api/terminal/holdings", json=purged).status_code == 401


def _the_site(session: Session) -> Site:
    return session.scalars(select(Site)).one()


def test_the_manifest_is_signed_scoped_and_served(
    client: TestClient, session: Session, tree: Tree
) -> None:
    store = get_store()
    course = make_course_of(session, tree)
    lesson = publish(session, store, course, "第一课")
    other = publish(session, store, course, "第二课")
    site = make_site(session, tree.branch, "500101001001", tier="basic", enrol=CODE)
    assign(session, site, lesson)
    inside, _ = make_member(session, tree.branch, "王芳", 1)
    make_member(session, tree.sibling, "李明", 2)  # a sibling branch: not the site's subtree
    enrolled = _enrol(client)
    headers = _auth(enrolled["token"])
    envelope = client.get("/api/terminal/manifest", headers=headers).json()
    key = client.get("/api/terminal/key").json()
    assert key["public_key"] == enrolled["public_key"]
    payload = open_envelope(envelope, base64.b64decode(key["public_key"]))
    assert payload["site"]["id"] == site.id
    [entry] = payload["lessons"]
    assert (entry["id"], entry["rendition"]["name"], entry["credit_hours"]) == (
        lesson.id,
        "360p",
        0.5,
    )
    paths = [f["path"] for f in entry["files"]]
    prefix = f"lessons/{lesson.id}/"
    assert prefix + "hls/360p/index.m3u8" in paths and prefix + "poster.jpg" in paths
    assert not any("480p" in p for p in paths)
    assert session.scalar(select(func.count()).select_from(LessonFile)) == len(paths)

    segment = next(f for f in entry["files"] if f["path"].endswith("seg_00002.m4s"))
    whole = client.get(segment["url"], headers=headers)
    assert whole.status_code == 200 and len(whole.content) == segment["size"]
    part = client.get(segment["url"], headers={**headers, "Range": "bytes=100-"})
    assert part.status_code == 206 and part.content == whole.content[100:]
    assert client.get(segment["url"]).status_code == 401
    for outside in (
        f"lessons/{lesson.id}/hls/480p/seg_00001.m4s",  # another tier's rendition
        f"lessons/{other.id}/hls/360p/seg_00001.m4s",  # not assigned
        f"lessons/{lesson.id}/source/a.mp4",
    ):
        response = client.get(f"/api/terminal/files/{outside}", headers=headers)
        assert response.status_code == 404, outside

    config = AgentConfig(
        server="http://x", site_id=site.id, site_name="", site_code="", device_id=1,
        public_key=enrolled["public_key"], key_id="",
    )  # fmt: skip
    assert verify_manifest(envelope, config)["site"]["id"] == site.id

    # The local player's files (public static files, named with their digests) and the roster.
    player = {f["path"]: f for f in payload["player"]["files"]}
    assert set(player) >= {"js/player.js", "js/api.js", "player.css", "vendor/hls.light.min.js"}
    served = client.get(player["js/player.js"]["url"], headers={"Accept-Encoding": "identity"})
    assert hashlib.sha256(served.content).hexdigest() == player["js/player.js"]["sha256"]
    roster = payload["roster"]
    [listed] = roster["members"]
    assert (listed["id"], listed["name"], listed["org"]) == (inside.id, "王芳", tree.branch.name)
    assert listed["id_number_masked"] == inside.id_number_masked
    assert checkin_code(inside.id) not in json.dumps(roster)  # only a salted, slow check value
    salt = base64.b64decode(roster["checkin"]["salt"])
    assert listed["check"] == check_value(
        salt=salt, member_id=inside.id, code=checkin_code(inside.id),
        iterations=roster["checkin"]["iterations"],
    )  # fmt: skip
    tampered = json.loads(base64.b64decode(envelope["payload"]))
    tampered["lessons"][0]["files"][0]["sha256"] = "0" * 64
    forged = {**envelope, "payload": base64.b64encode(json.dumps(tampered).encode()).decode()}
    with pytest.raises(ManifestRejected, match="signature"):
        verify_manifest(forged, config)
    with pytest.raises(ManifestRejected, match="signature"):
        verify_manifest({**envelope, "signature": base64.b64encode(b"x" * 64).decode()}, config)
    with pytest.raises(ManifestRejected, match="another site"):
        verify_manifest(envelope, AgentConfig(**{**config.__dict__, "site_id": site.id + 1}))
    later = AgentConfig(
        **{**config.__dict__, "last_manifest_issued_at": "2099-01-01T00:00:00+00:00"}
    )
    with pytest.raises(ManifestRejected, match="older"):
        verify_manifest(envelope, later)


def test_a_renewed_check_in_code_replaces_the_old_one_in_the_next_roster(
    session: Session, tree: Tree
) -> None:
    site = make_site(session, tree.branch, "500101001001")
    member, user = make_member(session, tree.branch, "王芳", 1, login="wangfang")
    assert user is not None

    def matches(code: str) -> bool:
        roster = site_roster(session=session, site=session.get_one(Site, site.id))
        salt = base64.b64decode(roster["checkin"]["salt"])
        [listed] = roster["members"]
        return bool(
            listed["check"] == check_value(salt=salt, member_id=member.id, code=code,
                                           iterations=roster["checkin"]["iterations"])
        )  # fmt: skip

    old = checkin_code(member.id)
    assert matches(old)
    renew_checkin_code(session=session, user=user)
    session.commit()
    assert member.checkin_generation == 1
    assert matches(checkin_code(member.id, 1)) and not matches(old)


def test_a_retranscoded_lesson_is_indexed_again(
    client: TestClient, session: Session, tree: Tree
) -> None:
    store = get_store()
    lesson = publish(session, store, make_course_of(session, tree), "第一课")
    site = make_site(session, tree.branch, "500101001001", enrol=CODE)
    assign(session, site, lesson)
    headers = _auth(_enrol(client)["token"])

    def digests() -> dict[str, str]:
        envelope = client.get("/api/terminal/manifest", headers=headers).json()
        payload = json.loads(base64.b64decode(envelope["payload"]))
        return {f["path"]: f["sha256"] for f in payload["lessons"][0]["files"]}

    before = digests()
    assert digests() == before  # from the index
    store.delete_prefix(f"lessons/{lesson.id}/hls/")
    write_media(store, lesson.id, segments=2, segment_bytes=1000)
    lesson.ready_at = datetime.now(UTC)
    session.commit()
    after = digests()
    assert len(after) == len(before) - 1
    assert all(after[p] != before[p] for p in after if p.endswith(".m4s"))


# -- records ----------------------------------------------------------------------------------

AGENT = str(uuid.uuid4())


def _record(
    seq: int,
    *,
    kind: str = "heartbeat",
    body: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    return {
        "uuid": key or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{AGENT}/{seq}")),
        "seq": seq,
        "kind": kind,
        "occurred_at": (occurred_at or datetime(2026, 11, 1, 9, 0, tzinfo=UTC)).isoformat(),
        "body": body if body is not None else {"agent_version": "1", "disk_free_bytes": seq},
    }


def _batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"agent_id": AGENT, "sent_at": datetime.now(UTC).isoformat(), "records": list(records)}


@pytest.fixture
def device_headers(client: TestClient, session: Session, tree: Tree) -> dict[str, str]:
    make_site(session, tree.branch, "500101001001", enrol=CODE)
    return _auth(_enrol(client)["token"])


def _send(client: TestClient, headers: dict[str, str], *records: dict[str, Any]) -> Any:
    return client.post("/api/terminal/records", json=_batch(*records), headers=headers)


def _stored(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(SiteRecord)) or 0)


def test_replayed_reordered_and_duplicated_batches_are_stored_once(
    client: TestClient, session: Session, device_headers: dict[str, str]
) -> None:
    session_id = str(uuid.uuid4())
    interval = {
        "session_id": session_id, "lesson_id": 3, "media_start": 0, "media_end": 30.5,
        "started_at": "2026-11-01T09:00:00+00:00",
    }  # fmt: skip
    third = _send(client, device_headers, _record(3), _record(4, kind="interval", body=interval))
    assert third.json() == {"high_water": 0, "stored": 2, "duplicates": 0, "flagged": 0}
    first = _send(client, device_headers, _record(1), _record(1))
    assert first.json()["high_water"] == 1 and first.json()["duplicates"] == 1
    replay = _send(client, device_headers, _record(3), _record(1))
    assert replay.json() == {"high_water": 1, "stored": 0, "duplicates": 2, "flagged": 0}
    gap_filled = _send(
        client, device_headers, _record(2), _record(4, kind="interval", body=interval)
    )
    assert gap_filled.json()["high_water"] == 4 and gap_filled.json()["stored"] == 1
    assert _stored(session) == 4
    row = session.scalars(select(SiteRecord).where(SiteRecord.seq == 4)).one()
    assert row.kind == "interval" and row.body["media_end"] == 30.5
    assert session.scalar(select(func.count()).select_from(SiteHeartbeat)) == 3


def test_a_conflicting_replay_is_refused_whole(
    client: TestClient, session: Session, device_headers: dict[str, str]
) -> None:
    assert _send(client, device_headers, _record(1)).status_code == 200
    changed = _record(1, body={"agent_version": "2"})
    refused = _send(client, device_headers, _record(2), changed)
    assert refused.status_code == 400 and "other content" in refused.json()["detail"]
    same_seq = _send(client, device_headers, _record(1, key=str(uuid.uuid4())))
    assert same_seq.status_code == 400 and "Sequence number 1" in same_seq.json()["detail"]
    twice = _send(client, device_headers, _record(5), _record(5, body={"agent_version": "x"}))
    assert twice.status_code == 400
    assert _stored(session) == 1  # record 2 of the refused batch was not kept


def test_bad_batches_get_clear_errors_and_store_nothing(
    client: TestClient, session: Session, device_headers: dict[str, str]
) -> None:
    raw = client.post(
        "/api/terminal/records",
        content=b'{"agent_id": "x", "records": [',
        headers={**device_headers, "Content-Type": "application/json"},
    )
    assert raw.status_code == 422 and raw.json()["detail"]
    unknown = _send(client, device_headers, _record(1, kind="credit"))
    assert unknown.status_code == 422 and "kind" in unknown.json()["detail"]
    bad_body = _send(client, device_headers, _record(1, kind="attendance", body={"member_id": 0}))
    assert bad_body.status_code == 400 and "attendance" in bad_body.json()["detail"]
    naive = _record(1)
    naive["occurred_at"] = "2026-11-01T09:00:00"
    assert _send(client, device_headers, naive).status_code == 422
    many = _send(client, device_headers, *(_record(n) for n in range(1, 502)))
    assert many.status_code == 400 and "at most 500" in many.json()["detail"]
    big = _send(client, device_headers, _record(1, body={"agent_version": "1", "pad": "x" * 70000}))
    assert big.status_code == 400 and "bytes" in big.json()["detail"]
    huge = client.post(
        "/api/terminal/records",
        content=b"[" + b" " * (9 * 1024 * 1024) + b"]",
        headers={**device_headers, "Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert _stored(session) == 0


def test_records_from_the_future_are_stored_flagged(
    client: TestClient, session: Session, device_headers: dict[str, str]
) -> None:
    ahead = datetime.now(UTC) + timedelta(days=2)
    response = _send(client, device_headers, _record(1), _record(2, occurred_at=ahead))
    assert response.json() == {"high_water": 2, "stored": 2, "duplicates": 0, "flagged": 1}
    flags = dict(session.execute(select(SiteRecord.seq, SiteRecord.flag)).all())
    assert flags == {1: None, 2: "future"}


# -- access -----------------------------------------------------------------------------------

EMPTY_BATCH = {"agent_id": AGENT, "sent_at": "2026-11-01T00:00:00Z", "records": []}
DEVICE_ROUTES = [
    ("POST", "/api/terminal/heartbeat", {}),
    ("GET", "/api/terminal/manifest", None),
    ("GET", "/api/terminal/files/lessons/1/poster.jpg", None),
    ("POST", "/api/terminal/records", EMPTY_BATCH),
]


def test_every_device_route_refuses_all_but_a_live_device(
    client: TestClient, session: Session, tree: Tree
) -> None:
    site = make_site(session, tree.branch, "500101001001", enrol=CODE)
    revoked = _enrol(client)["token"]
    new_code(session, site, "enrol-code-0002")
    live = _enrol(client, "enrol-code-0002")["token"]
    suspended_site = make_site(session, tree.sibling, "500101001002", enrol="enrol-code-0003")
    suspended = _enrol(client, "enrol-code-0003")["token"]
    suspended_site.status = SiteStatus.suspended
    session.commit()
    callers = {
        "anonymous": ({}, 401),
        "garbage": (_auth("not-a-token"), 401),
        "revoked": (_auth(revoked), 401),
        "suspended": (_auth(suspended), 403),
    }
    for method, path, body in DEVICE_ROUTES:
        for name, (headers, status) in callers.items():
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == status, (method, path, name, response.text)
        allowed = client.request(method, path, json=body, headers=_auth(live))
        # a live device gets its answer; the poster is not in its (empty) manifest
        expected = 404 if "files" in path else 200
        assert allowed.status_code == expected, (method, path, allowed.text)
    assert client.get("/api/terminal/key").status_code == 200
