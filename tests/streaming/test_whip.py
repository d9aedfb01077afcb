"""The program feed over WHIP with real peers: an encoder's H.264 takes the broadcast over from
the room, remuxed as it came (never through the node's encoder), its sound in the mix; when it
stops, the broadcast goes back to the room, and an encoder that starts again is on the air
again. Over HTTP: the event's token (issued on the page or the command line, kept hashed), one
feed at a time, the refusals an encoder is told, and a web node passing the feed to the media
node it places the meeting on."""

import asyncio
import re
from pathlib import Path

import av
import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.audit.models import AuditEntry
from core.people.models import Member
from core.storage import get_store
from core.storage.local import LocalStore
from streaming.congress.feed import issue_whip_token
from streaming.congress.hosting import live_prefix, room_key
from streaming.congress.models import EventStatus
from streaming.media.broadcast import PICTURE, PLAYLIST, SEGMENT, Program
from streaming.media.placement import holder
from streaming.media.room import MediaRoom
from streaming.media.whip import WhipEndpoint
from terminals.sync.enrolment import token_hash
from tests.factories import Tree, log_in
from tests.server import running_server
from tests.streaming.peers import (
    HEIGHT,
    WIDTH,
    Microphone,
    NumberedCamera,
    close_all,
    peer,
    prefer,
    run,
    until,
)
from tests.streaming.test_broadcast import join, sound, tone
from tests.streaming.test_events import schedule, user
from tests.streaming.test_nodes import LIVENESS, meeting_state
from web.app import create_app
from web.cli import app as cli

runner = CliRunner()


def encoder(codec: str = "video/H264", pitch: int = 660) -> RTCPeerConnection:
    """An encoder's peer as OBS makes it: one camera and one microphone, sendonly."""
    connection = peer()
    prefer(connection.addTransceiver(NumberedCamera(200), direction="sendonly"), codec)
    connection.addTransceiver(Microphone(loud=True, pitch=pitch), direction="sendonly")
    return connection


async def offer_of(connection: RTCPeerConnection) -> str:
    await connection.setLocalDescription(await connection.createOffer())
    return connection.localDescription.sdp


def pictures(path: Path) -> list[tuple[int, int, int]]:
    """Each frame's width, height and tint (the U plane at the middle)."""
    with av.open(str(path)) as container:
        return [
            (
                f.width,
                f.height,
                bytes(f.planes[1])[(f.height // 4) * f.planes[1].line_size + f.width // 4],
            )
            for f in container.decode(video=0)
        ]


def test_a_whip_feed_takes_the_program_over_remuxed_and_gives_it_back(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    prefix = "events/5/live"

    async def scenario() -> None:
        # A VP8 room: its camera is encoded to H.264 for the broadcast (640x480); the feed's
        # H.264 must not be (it stays as the encoder made it, 320x240 Baseline).
        room = MediaRoom(video_codec="video/VP8")
        room.start()
        peers = await join(room, "chair", 60, pitch=440)
        program = Program(room, store, prefix, tmp_path / "work")
        endpoint = WhipEndpoint([], on_feed=lambda feed: setattr(program, "feed", feed))
        program.start()
        await until(lambda: program.following == "chair", 10, "the room's camera")
        obs = encoder()
        session_id, answer = await endpoint.publish(await offer_of(obs))
        await obs.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await until(lambda: program.following == "feed", 10, "the feed on the program")
        await asyncio.sleep(3)
        assert await endpoint.end(session_id)
        await until(lambda: program.following == "chair", 10, "the room again")
        await asyncio.sleep(2)
        await program.stop()
        await room.close()
        await close_all(obs, *peers)

    run(scenario)
    local = store.local_path(f"{prefix}/{PLAYLIST}")
    assert local is not None
    shown = pictures(local)
    feed = [(w, h) for w, h, tint in shown if abs(tint - 200) < 10]
    room = [(w, h) for w, h, tint in shown if abs(tint - 60) < 10]
    assert len(feed) > 25 * 2 and set(feed) == {(WIDTH, HEIGHT)}  # remuxed: the encoder's size
    assert set(room) == {PICTURE}  # the room's VP8, encoded once to the program's picture
    tints = [tint for _, _, tint in shown]
    first_feed = next(n for n, t in enumerate(tints) if abs(t - 200) < 10)
    assert abs(tints[0] - 60) < 10 and abs(tints[-1] - 60) < 10  # room, feed, room again
    assert all(abs(t - 200) < 10 for t in tints[first_feed : first_feed + 25 * 2])
    # While the feed is on, its sound (660 Hz) is in the mix beside the chair's (440 Hz).
    start = first_feed / 30 + 1
    heard = sound(local, start, 1)
    assert min(tone(heard, 440), tone(heard, 660)) > 100 * tone(heard, 550)


def test_an_encoder_with_the_events_token_is_broadcast_one_at_a_time(
    client: TestClient, session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    token = issue_whip_token(session=session, actor=user(session, "adm"), event_id=event.id)
    session.commit()
    url = f"/api/events/{event.id}/whip"
    sending = {"content-type": "application/sdp", "authorization": f"Bearer {token}"}
    store = get_store()
    playlist = f"{live_prefix(event.id)}/{PLAYLIST}"
    log_in(client, "chair")
    with client.websocket_connect(
        f"/events/{event.id}/room/signal", headers={"origin": "http://testserver"}
    ) as socket:
        assert socket.receive_json()["type"] == "welcome"
        meeting_state(socket, "scheduled")
        socket.send_json({"type": "start"})
        meeting_state(socket, "live")
        located: list[str] = []

        async def scenario() -> None:
            obs, other = encoder(), encoder()
            answered = await asyncio.to_thread(
                client.post, url, content=await offer_of(obs), headers=sending
            )
            assert answered.status_code == 201, answered.text
            assert answered.headers["content-type"] == "application/sdp"
            located.append(answered.headers["location"])
            await obs.setRemoteDescription(RTCSessionDescription(answered.text, "answer"))
            busy = await asyncio.to_thread(
                client.post, url, content=await offer_of(other), headers=sending
            )
            assert busy.status_code == 409 and "another encoder" in busy.text
            await until(
                lambda: (
                    store.exists(playlist)
                    and len(SEGMENT.findall(store.get_bytes(playlist).decode())) >= 2
                ),
                20,
                "the feed's segments",
            )
            ended = await asyncio.to_thread(client.delete, located[0], headers=sending)
            assert ended.status_code == 200
            await close_all(obs, other)
            # Stopped, the feed's place is free: the encoder starts again, on the air again.
            again = encoder()
            restarted = await asyncio.to_thread(
                client.post, url, content=await offer_of(again), headers=sending
            )
            assert restarted.status_code == 201, restarted.text
            await again.setRemoteDescription(RTCSessionDescription(restarted.text, "answer"))
            host = client.app.state.meeting_host  # type: ignore[attr-defined]
            await until(
                lambda: host.programs[event.id].video.source is host.whips[event.id].feed.video,
                10,
                "the new feed on the air",
            )
            await asyncio.to_thread(client.delete, restarted.headers["location"], headers=sending)
            await close_all(again)

        run(scenario)
    gone = client.delete(located[0], headers=sending)
    assert gone.status_code == 404
    listed = store.get_bytes(playlist).decode()
    segments = [
        store.local_path(f"{live_prefix(event.id)}/{name}") for name in SEGMENT.findall(listed)
    ]
    assert len(segments) >= 2 and all(path is not None and path.is_file() for path in segments)
    shown = []
    for path in segments:  # the playlist is live (no end): its segments are read one by one
        assert path is not None
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            # The encoder's own H.264 (aiortc's encoder makes Baseline): remuxed, not re-encoded.
            assert video.codec_context.name == "h264" and "Baseline" in (video.profile or "")
        shown += pictures(path)
    assert len(shown) > 25 * 2 and {(w, h) for w, h, _ in shown} == {(WIDTH, HEIGHT)}
    assert all(abs(tint - 200) < 10 for _, _, tint in shown)


def test_an_encoder_is_told_why_it_is_refused(
    client: TestClient, session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    admin = user(session, "adm")
    old = issue_whip_token(session=session, actor=admin, event_id=event.id)
    token = issue_whip_token(session=session, actor=admin, event_id=event.id)
    session.commit()
    url = f"/api/events/{event.id}/whip"

    def post(offer: str, authorization: str = f"Bearer {token}", kind: str = "application/sdp"):
        headers = {"content-type": kind, "authorization": authorization}
        return client.post(url, content=offer, headers=headers)

    async def offers() -> tuple[str, str]:
        h264, vp8 = encoder(), encoder("video/VP8")
        made = await offer_of(h264), await offer_of(vp8)
        await close_all(h264, vp8)
        return made

    h264, vp8 = asyncio.run(offers())
    missing = post(h264, authorization="")
    assert missing.status_code == 401 and "WHIP token" in missing.text
    assert missing.headers["www-authenticate"].startswith("Bearer")
    replaced = post(h264, authorization=f"Bearer {old}")  # issuing again revoked it
    assert replaced.status_code == 401 and "newer one" in replaced.text
    assert post(h264, kind="application/json").status_code == 415
    malformed = post("v=0\r\nthis is no offer")
    assert malformed.status_code == 400 and "video track" in malformed.text
    refused = post(vp8)
    assert refused.status_code == 400 and "H264" in refused.text
    # A scheduled event takes the feed (an encoder connects before the start); it is
    # broadcast once the chair starts the meeting.
    early = post(h264)
    assert early.status_code == 201, early.text
    assert (
        client.delete(
            early.headers["location"], headers={"authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    session.refresh(event)
    event.status = EventStatus.ended
    session.commit()
    over = post(h264)
    assert over.status_code == 409 and "over" in over.text


def test_an_administrator_issues_the_token_shown_once_on_the_page_or_the_command_line(
    client: TestClient, session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    page = f"/events/{event.id}"
    csrf = log_in(client, "chair")  # the chair moderates the room, but does not manage the event
    assert 'id="whip"' not in client.get(page).text
    assert client.post(f"{page}/whip-token", data={"csrf_token": csrf}).status_code == 403
    csrf = log_in(client, "adm")
    assert 'id="whip-url"' in client.get(page).text
    issued = client.post(f"{page}/whip-token", data={"csrf_token": csrf})
    assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
    found = re.search(r'id="whip-token">([^<]+)<', issued.text)
    assert found is not None
    shown = found.group(1)
    session.refresh(event)
    assert event.whip_token_hash == token_hash(shown)  # kept hashed
    assert shown not in client.get(page).text  # shown once
    result = runner.invoke(cli, ["events", "whip-token", str(event.id), "--as", "adm"])
    assert result.exit_code == 0, result.output
    assert f"/api/events/{event.id}/whip" in result.output
    rotated = result.output.split("Bearer token: ")[1].strip()
    session.refresh(event)
    assert event.whip_token_hash == token_hash(rotated) != token_hash(shown)
    for login in ("chair", "far"):  # not managing it; another district's administrator
        refused = runner.invoke(cli, ["events", "whip-token", str(event.id), "--as", login])
        assert refused.exit_code == 1 and "Bearer token" not in refused.output
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "whip_token_issued").order_by(AuditEntry.id)
    ).all()
    assert [(e.actor_login, e.detail["rotated"]) for e in entries] == [
        ("adm", False),
        ("adm", True),
    ]


def test_a_web_node_passes_the_feed_to_the_media_node_it_places_the_meeting_on(
    tmp_path: Path, session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    token = issue_whip_token(session=session, actor=user(session, "adm"), event_id=event.id)
    session.commit()
    sending = {"content-type": "application/sdp", "authorization": f"Bearer {token}"}

    async def offer() -> str:
        obs = encoder()
        made = await offer_of(obs)
        await obs.close()
        return made

    made = asyncio.run(offer())
    with running_server(tmp_path, command="media") as node, TestClient(create_app()) as web:
        direct = httpx.post(f"{node.url}/node/events/{event.id}/whip", content=made)
        assert direct.status_code == 401  # the node takes a web node's ticket only
        answered = web.post(f"/api/events/{event.id}/whip", content=made, headers=sending)
        assert answered.status_code == 201, answered.text
        assert answered.text.startswith("v=0") and "a=recvonly" in answered.text
        assert holder(session, room_key(event.id), LIVENESS) == node.url
        location = answered.headers["location"]
        assert location.startswith(f"/api/events/{event.id}/whip/")
        assert web.delete(location, headers=sending).status_code == 200
        assert web.delete(location, headers=sending).status_code == 404
