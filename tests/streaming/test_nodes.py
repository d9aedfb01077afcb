"""Media nodes: a room goes to the least loaded live node, through the database; a web node
relays a participant's signalling to it with a ticket the node checks; a node killed with
SIGKILL is noticed, and its meeting moves to another node, where the participants reconnect and
find it as they left it; its broadcast goes on in the same playlist."""

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect

from core.db import utcnow
from core.errors import TemporaryError
from core.people.models import Member
from core.settings import get_settings
from streaming.congress.hosting import room_key
from streaming.media.broadcast import continued
from streaming.media.models import MediaNodeRecord
from streaming.media.peers import local_sdp, new_peer_connection
from streaming.media.placement import Liveness, heartbeat, holder, place, release, retire
from streaming.media.relay import NODE_AWAY, read_ticket, ticket
from tests.factories import Tree, log_in
from tests.server import running_server
from tests.streaming.test_events import schedule
from web.app import create_app

LIVENESS = Liveness(interval=1, timeout=10)
FAST = {"YUANJIAO_MEDIA_HEARTBEAT_SECONDS": "0.3", "YUANJIAO_MEDIA_NODE_TIMEOUT_SECONDS": "2"}
"""Nodes that beat often and are given up quickly, for a failover within the test's time."""


def test_a_room_goes_to_the_least_loaded_live_node_and_leaves_a_dead_one(session: Session) -> None:
    with pytest.raises(TemporaryError):
        place(session, "r1", LIVENESS)  # no node runs
    heartbeat(session, "http://a:8100")
    heartbeat(session, "http://b:8100")
    assert place(session, "r1", LIVENESS) == "http://a:8100"
    assert place(session, "r2", LIVENESS) == "http://b:8100"
    assert place(session, "r1", LIVENESS) == "http://a:8100"  # it stays where it is
    session.get_one(MediaNodeRecord, "http://a:8100").seen_at = utcnow() - timedelta(seconds=11)
    assert holder(session, "r1", LIVENESS) is None
    assert place(session, "r1", LIVENESS) == "http://b:8100"
    release(session, "r1")
    assert holder(session, "r1", LIVENESS) is None
    assert holder(session, "r2", LIVENESS) == "http://b:8100"
    retire(session, "http://b:8100")  # a node stopping leaves, and its rooms with it
    assert holder(session, "r2", LIVENESS) is None
    assert session.get(MediaNodeRecord, "http://b:8100") is None


def test_a_ticket_opens_its_own_room_only() -> None:
    token = ticket("event-1", {"user": 7})
    assert read_ticket(token, "event-1") == {"user": 7}
    assert read_ticket(token, "event-2") is None
    assert read_ticket(token[:-3] + "abc", "event-1") is None
    assert read_ticket("", "event-1") is None


@pytest.mark.engine_neutral
def test_host_candidates_are_announced_at_the_address_browsers_reach() -> None:
    async def offer() -> tuple[str, str]:
        connection = new_peer_connection([])
        connection.addTransceiver("audio", direction="sendonly")
        await connection.setLocalDescription(await connection.createOffer())
        try:
            return local_sdp(connection), local_sdp(connection, "203.0.113.9")
        finally:
            await connection.close()

    own, announced = asyncio.run(offer())
    hosts = [line.split(" ") for line in announced.splitlines() if " typ host" in line]
    assert hosts and all(fields[4] == "203.0.113.9" for fields in hosts)
    own_ports = [line.split(" ")[5] for line in own.splitlines() if " typ host" in line]
    assert [fields[5] for fields in hosts] == own_ports  # the ports gathered stay
    assert "c=IN IP4 203.0.113.9" in announced


@pytest.mark.engine_neutral
def test_a_broadcast_taken_up_goes_on_in_the_same_playlist() -> None:
    earlier = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:2.0,\nseg00000.ts\n#EXTINF:2.0,\nseg00001.ts\n"
    )
    take = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:2.5,\nseg-1-00000.ts\n#EXT-X-ENDLIST\n"
    )
    playlist = continued(earlier, take)
    assert playlist.count("#EXTM3U") == 1 and "#EXT-X-TARGETDURATION:3\n" in playlist
    lines = playlist.splitlines()
    assert lines[-4:] == [
        "#EXT-X-DISCONTINUITY",
        "#EXTINF:2.5,",
        "seg-1-00000.ts",
        "#EXT-X-ENDLIST",
    ]
    assert lines.index("seg00001.ts") < lines.index("seg-1-00000.ts")


@pytest.fixture
def fast_nodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def enter(web: TestClient, event_id: int, deadline: float) -> Any:
    """The room's socket once its node lets the participant in (a page reconnects likewise)."""
    while True:
        socket = web.websocket_connect(
            f"/events/{event_id}/room/signal", headers={"origin": "http://testserver"}
        ).__enter__()
        try:
            assert socket.receive_json()["type"] == "welcome"
            return socket
        except WebSocketDisconnect as closed:
            socket.__exit__(None, None, None)
            assert closed.code == NODE_AWAY
            assert time.monotonic() < deadline, "the meeting never moved to the live node"
            time.sleep(0.3)


def meeting_state(socket: Any, status: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = socket.receive_json()
        if message["type"] == "meeting" and message["status"] == status:
            return message


def test_a_meeting_moves_to_another_node_when_its_node_dies(
    tmp_path: Path,
    fast_nodes: None,
    session: Session,
    tree: Tree,
    people: dict[str, Member],
) -> None:
    event = schedule(session, tree, people)
    web = TestClient(create_app())  # a web node that holds no meeting itself
    with running_server(tmp_path, command="media", env=FAST) as first, web:
        refused = httpx.post(f"{first.url}/node/events/{event.id}/whep", content=b"v=0")
        assert refused.status_code == 401  # the node's routes want a web node's ticket
        log_in(web, "chair")
        socket = enter(web, event.id, time.monotonic() + 10)
        meeting_state(socket, "scheduled")
        socket.send_json({"type": "start"})
        meeting_state(socket, "live")
        assert holder(session, room_key(event.id), LIVENESS) == first.url
        with running_server(tmp_path, command="media", env=FAST) as second:
            first.process.kill()
            with pytest.raises(WebSocketDisconnect) as dropped:
                socket.receive_json()
            assert dropped.value.code == NODE_AWAY
            socket.__exit__(None, None, None)
            again = enter(web, event.id, time.monotonic() + 20)
            state = meeting_state(again, "live")  # taken up from its record, still live
            assert state["you"] == "present"
            session.expire_all()
            assert holder(session, room_key(event.id), LIVENESS) == second.url
            again.send_json({"type": "end"})
            while again.receive_json()["type"] != "ended":
                pass
            again.__exit__(None, None, None)
            second_url = second.url
        session.expire_all()
        assert holder(session, room_key(event.id), LIVENESS) is None  # released when it ended
        assert session.get(MediaNodeRecord, second_url) is None  # stopped: out of the register
