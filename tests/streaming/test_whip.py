"""The program feed over WHIP with real peers: an encoder's H.264 takes the broadcast over from
the room, remuxed as it came (never through the node's encoder), its sound in the mix; when it
stops, the broadcast goes back to the room. Over HTTP: the event's token, one feed at a time,
and the refusals an encoder is told."""

import asyncio
from pathlib import Path

import av
from aiortc import RTCPeerConnection, RTCSessionDescription

from core.storage.local import LocalStore
from streaming.media.broadcast import PICTURE, PLAYLIST, Program
from streaming.media.room import MediaRoom
from streaming.media.whip import WhipEndpoint
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
            (f.width, f.height, bytes(f.planes[1])[(f.height // 4) * f.planes[1].line_size + f.width // 4])
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
        await asyncio.sleep(4)
        assert await endpoint.end(session_id)
        await until(lambda: program.following == "chair", 10, "the room again")
        await asyncio.sleep(2.5)
        await program.stop()
        await room.close()
        await close_all(obs, *peers)

    run(scenario)
    local = store.local_path(f"{prefix}/{PLAYLIST}")
    assert local is not None
    shown = pictures(local)
    feed = [(w, h) for w, h, tint in shown if abs(tint - 200) < 10]
    room = [(w, h) for w, h, tint in shown if abs(tint - 60) < 10]
    assert len(feed) > 25 * 3 and set(feed) == {(WIDTH, HEIGHT)}  # remuxed: the encoder's size
    assert set(room) == {PICTURE}  # the room's VP8, encoded once to the program's picture
    tints = [tint for _, _, tint in shown]
    first_feed = next(n for n, t in enumerate(tints) if abs(t - 200) < 10)
    assert abs(tints[0] - 60) < 10 and abs(tints[-1] - 60) < 10  # room, feed, room again
    assert all(abs(t - 200) < 10 for t in tints[first_feed : first_feed + 25 * 3])
    # While the feed is on, its sound (660 Hz) is in the mix beside the chair's (440 Hz).
    start = first_feed / 30 + 1
    heard = sound(local, start, 1)
    assert min(tone(heard, 440), tone(heard, 660)) > 100 * tone(heard, 550)
