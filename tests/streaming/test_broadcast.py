"""The program feed with real peers: the followed participant's H.264 remuxed and voice encoded
to AAC once, cut into HLS segments that reach object storage before the playlist naming them;
the spotlight moves the program; the end closes the playlist. WHEP serves the same program at
WebRTC latency, and refuses what it cannot serve."""

import asyncio
import math
from array import array
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCSessionDescription
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.people.models import Member
from core.storage.local import LocalStore
from streaming.media.broadcast import AUDIO_RATE, MIX_SAMPLES, PLAYLIST, Mixer, Program
from streaming.media.room import MediaRoom
from streaming.media.signalling import SignallingError
from streaming.media.whep import WhepEndpoint
from tests.factories import log_in
from tests.streaming.peers import (
    Microphone,
    NumberedCamera,
    close_all,
    negotiate,
    peer,
    prefer,
    run,
    until,
)
from tests.streaming.test_events import schedule


async def join(room: MediaRoom, name: str, tint: int, pitch: int = 440) -> list:
    client, server = peer(), peer()
    prefer(client.addTransceiver(NumberedCamera(tint), direction="sendonly"), room.video_codec)
    client.addTransceiver(Microphone(loud=True, pitch=pitch), direction="sendonly")
    arrived: list = []
    server.on("track", arrived.append)
    await negotiate(client, server)
    await until(lambda: len(arrived) == 2, 10, "tracks")
    for transceiver in server.getTransceivers():
        room.publish(name, transceiver.receiver.track, transceiver.receiver)
    return [client, server]


def tints(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [
            bytes(f.planes[1])[(f.height // 4) * f.planes[1].line_size + f.width // 4]
            for f in container.decode(video=0)
        ]


def tone(samples: list[float], hertz: float) -> float:
    """The power of one frequency in 48 kHz samples (Goertzel)."""
    factor, before, earlier = 2 * math.cos(2 * math.pi * hertz / AUDIO_RATE), 0.0, 0.0
    for sample in samples:
        before, earlier = sample + factor * before - earlier, before
    return before * before + earlier * earlier - factor * before * earlier


def sound(path: Path, start: float, seconds: float) -> list[float]:
    """The decoded sound of a recording from ``start``, ``seconds`` long."""
    samples: list[float] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            if frame.time is not None and frame.time >= start:
                samples += array("f", bytes(frame.planes[0]))[: frame.samples]
            if len(samples) >= seconds * AUDIO_RATE:
                break
    return samples


def test_the_mix_sums_the_voices_it_holds_and_clips() -> None:
    mixer = Mixer(3)
    assert mixer.take() == bytes(MIX_SAMPLES * 2)  # nobody: silence
    mixer.held[0] += array("h", [1000] * MIX_SAMPLES).tobytes()
    assert array("h", mixer.take()) == array("h", [1000] * MIX_SAMPLES)
    mixer.held[0] += array("h", [20000] * MIX_SAMPLES).tobytes()
    mixer.held[2] += array("h", [-3000, 20000] * (MIX_SAMPLES // 4)).tobytes()  # half a tick
    mixed = array("h", mixer.take())
    assert mixed[:2] == array("h", [17000, 32767]) and mixed[-1] == 20000
    assert not any(mixer.held)


def test_the_program_is_remuxed_into_segments_that_reach_storage_first(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")

    async def scenario() -> None:
        room = MediaRoom()
        room.start()
        peers = await join(room, "chair", 60) + await join(room, "member", 200, pitch=660)
        program = Program(room, store, "events/7/live", tmp_path / "work")
        program.start()
        await until(lambda: store.exists(f"events/7/live/{PLAYLIST}"), 10, "a playlist")
        listed = store.get_bytes(f"events/7/live/{PLAYLIST}").decode()
        assert all(
            store.exists(f"events/7/live/{line}")
            for line in listed.splitlines()
            if line.endswith(".ts")
        )
        assert program.following == "chair"  # the first camera, nobody spotlit or speaking
        room.set_spotlight("member")
        await asyncio.sleep(5)
        await program.stop()
        assert program.following == "member"
        await room.close()
        await close_all(*peers)

    run(scenario)
    playlist = store.get_bytes(f"events/7/live/{PLAYLIST}").decode()
    assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
    local = store.local_path(f"events/7/live/{PLAYLIST}")
    assert local is not None
    with av.open(str(local)) as container:
        kinds = {(s.type, s.codec_context.name) for s in container.streams}
        assert kinds == {("video", "h264"), ("audio", "aac")}
        seconds = float(container.duration or 0) / av.time_base
    assert seconds > 5
    shown = tints(local)
    assert len(shown) > 25 * seconds  # about 30 frames a second, none lost to the remux
    assert abs(shown[0] - 60) < 10 and abs(shown[-1] - 200) < 10  # the spotlight moved it
    # The sound is the room's: both voices, whoever the picture follows.
    heard = sound(local, 2, 1)
    assert min(tone(heard, 440), tone(heard, 660)) > 100 * tone(heard, 550)


def test_a_vp8_room_is_encoded_to_h264_once_for_the_broadcast(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")

    async def scenario() -> None:
        room = MediaRoom(video_codec="video/VP8")
        room.start()
        peers = await join(room, "chair", 60)
        program = Program(room, store, "events/9/live", tmp_path / "work")
        program.start()
        await until(lambda: store.exists(f"events/9/live/{PLAYLIST}"), 10, "a playlist")
        await asyncio.sleep(3)
        await program.stop()
        await room.close()
        await close_all(*peers)

    run(scenario)
    local = store.local_path(f"events/9/live/{PLAYLIST}")
    assert local is not None
    with av.open(str(local)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 640, 480)
        seconds = float(container.duration or 0) / av.time_base
    shown = tints(local)
    assert seconds > 3 and len(shown) > 25 * seconds
    assert all(abs(tint - 60) < 10 for tint in shown)


def test_a_whep_viewer_receives_the_program_at_webrtc_latency(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")

    async def scenario() -> None:
        room = MediaRoom()
        room.start()
        peers = await join(room, "chair", 60) + await join(room, "member", 200, pitch=660)
        program = Program(room, store, "events/8/live", tmp_path / "work")
        program.start()
        endpoint = WhepEndpoint(program, ice_servers=[])
        with pytest.raises(SignallingError):
            await endpoint.answer("v=0\r\nnot an offer")
        player = peer()
        player.addTransceiver("video", direction="recvonly")
        player.addTransceiver("audio", direction="recvonly")
        await player.setLocalDescription(await player.createOffer())
        session_id, answer = await endpoint.answer(player.localDescription.sdp)
        await player.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        video = next(t.receiver.track for t in player.getTransceivers() if t.kind == "video")
        decoder = av.CodecContext.create("h264", "r")
        pictures = []
        while len(pictures) < 10:
            pictures += decoder.decode(await asyncio.wait_for(video.recv(), 5))
        assert (
            abs(bytes(pictures[-1].planes[1])[(60 * pictures[-1].planes[1].line_size) + 80] - 60)
            < 10
        )
        # Its sound is the room's mix, encoded to Opus once for the WHEP viewers.
        voice = next(t.receiver.track for t in player.getTransceivers() if t.kind == "audio")
        opus, heard = av.CodecContext.create("opus", "r"), []
        while len(heard) < AUDIO_RATE:
            for frame in opus.decode(await asyncio.wait_for(voice.recv(), 5)):
                heard += array("f", bytes(frame.planes[0]))[: frame.samples]
        late = heard[-24000:]
        assert min(tone(late, 440), tone(late, 660)) > 100 * tone(late, 550)  # both voices
        assert await endpoint.end(session_id) and not await endpoint.end(session_id)
        await program.stop()
        await room.close()
        await close_all(player, *peers)

    run(scenario)


def test_whep_refuses_what_it_cannot_serve(
    client: TestClient, session: Session, tree: Any, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    url = f"/api/events/{event.id}/whep"
    sdp = {"content-type": "application/sdp"}

    def offer(headers: dict[str, str] = sdp) -> Any:
        return client.post(url, content="v=0", headers=headers)

    assert offer().status_code == 401
    log_in(client, "ma")
    assert offer({"content-type": "application/json"}).status_code == 415
    not_yet = offer()
    assert not_yet.status_code == 404 and "尚未开始" in not_yet.text
    log_in(client, "outsider")
    assert offer().status_code == 404
    assert offer({**sdp, "authorization": "Bearer not-a-device-token"}).status_code in (401, 403)
