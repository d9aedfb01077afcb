"""The forwarder against real aiortc peers on loopback: frames cross the server still encoded,
every viewer decodes them, late joiners get a picture at once, and a slow viewer costs only
itself."""

import asyncio
import inspect
from fractions import Fraction

import aiortc
import av
import pytest
from aiortc import RTCDtlsTransport, RTCRtpReceiver, RTCRtpSender, rtcrtpreceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import HeaderExtensionsMap

from streaming.media import passthrough
from streaming.media.forwarder import Outlet
from tests.streaming.peers import close_all, publish, run, until, watch

pytestmark = pytest.mark.engine_neutral  # peers on loopback; no database or queue


CODECS = [("video/VP8", "vp8"), ("video/H264", "h264")]


def test_aiortc_internals_the_forwarder_relies_on() -> None:
    """These are private to aiortc: a new release that moves them must fail here, not in a room."""
    assert aiortc.__version__.startswith("1.16.")
    # The receiver thread makes its decoder through the module global, at call time.
    assert "get_decoder" in rtcrtpreceiver.decoder_worker.__code__.co_names
    assert list(inspect.signature(JitterFrame).parameters) == ["data", "timestamp"]
    # A sender packs anything that is not a decoded Frame, without encoding it, with an encoder
    # made through the module global, at call time; payloads are not changed after.
    assert "pack" in RTCRtpSender._next_encoded_frame.__code__.co_names
    assert "get_encoder" in RTCRtpSender._next_encoded_frame.__code__.co_names
    # PLI and FIR reach a sender through self._send_keyframe, looked up on the instance.
    assert "_send_keyframe" in RTCRtpSender._handle_rtcp_packet.__code__.co_names
    assert inspect.iscoroutinefunction(RTCRtpReceiver._send_rtcp_pli)
    # Packets reach receivers and senders through instance lookups the forwarder wraps: RTP (its
    # audio-level extension) and RTCP (REMB) in, RTCP out of a receiver (REMB, capped).
    assert "_handle_rtp_packet" in RTCDtlsTransport._handle_rtp_data.__code__.co_names
    assert "_handle_rtcp_packet" in RTCDtlsTransport._handle_rtcp_data.__code__.co_names
    assert "_send_rtcp" in RTCRtpReceiver._handle_rtp_packet.__code__.co_names
    assert "audio_level" in inspect.getsource(HeaderExtensionsMap.get)


def test_each_h264_frame_is_split_into_payloads_once_for_every_sender() -> None:
    frame = av.Packet(b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x65" + bytes(3000))
    frame.pts, frame.time_base = 3000, Fraction(1, 90000)
    one, other = passthrough.SharedH264Packer(), passthrough.SharedH264Packer()
    payloads, timestamp = one.pack(frame)
    assert len(payloads) > 2 and timestamp == 3000  # an FU-A split, at the frame's time
    assert other.pack(frame)[0] is payloads  # the second sender reuses the first's split
    copy = av.Packet(bytes(frame))
    copy.pts, copy.time_base = 6000, Fraction(1, 90000)
    assert other.pack(copy) == (payloads, 6000)  # another frame (a shifted copy): split anew


def test_keyframes_are_recognised_in_both_video_codecs() -> None:
    idr = b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x00\x01\x68\xce" + b"\x00\x00\x01\x65\x88"
    non_idr = b"\x00\x00\x00\x01\x41\x9a\x00"
    assert passthrough.is_keyframe("H264", idr)
    assert not passthrough.is_keyframe("H264", non_idr)
    assert passthrough.is_keyframe("VP8", b"\x50\x2d\x00\x9d\x01\x2a")
    assert not passthrough.is_keyframe("VP8", b"\x31\x02\x00")
    assert passthrough.is_keyframe("opus", b"\xfc")


@pytest.mark.parametrize(("mime_type", "codec_name"), CODECS)
def test_viewers_decode_frames_that_crossed_the_server_encoded(
    mime_type: str, codec_name: str
) -> None:

    async def scenario() -> None:
        publisher = await publish(mime_type)
        viewers = [await watch(publisher.feed, mime_type, codec_name) for _ in range(2)]
        await until(lambda: all(len(v.lumas) >= 30 for v in viewers), 15, "30 decoded frames")
        for viewer in viewers:
            assert all(isinstance(p, av.Packet) for p in viewer.packets)
            assert viewer.undecodable == 0
            # Frames advance: the camera's brightness steps through 25 values.
            assert len(set(viewer.lumas)) >= 10
        await close_all(publisher.client, publisher.server, *(v.server for v in viewers))
        await close_all(*(v.client for v in viewers))

    run(scenario)


@pytest.mark.parametrize(("mime_type", "codec_name"), CODECS)
def test_a_late_viewer_gets_a_keyframe_within_a_round_trip(mime_type: str, codec_name: str) -> None:
    """aiortc's VP8 encoder makes a keyframe every 3,000 frames; without the PLI on join a late
    viewer would see nothing for 100 seconds."""

    async def scenario() -> None:
        publisher = await publish(mime_type)
        early = await watch(publisher.feed, mime_type, codec_name)
        await until(lambda: len(early.lumas) >= 45, 15, "the early viewer's frames")
        requests = publisher.feed.keyframe_requests
        late = await watch(publisher.feed, mime_type, codec_name)
        joined = asyncio.get_running_loop().time()
        await until(lambda: len(late.lumas) >= 5, 3, "the late viewer's first frames")
        assert asyncio.get_running_loop().time() - joined < 3
        assert publisher.feed.keyframe_requests > requests
        assert late.packets[0].is_keyframe and late.undecodable == 0
        await close_all(publisher.client, publisher.server, early.server, late.server)
        await close_all(early.client, late.client)

    run(scenario)


def test_a_viewers_picture_loss_reaches_the_publisher_throttled() -> None:
    async def scenario() -> None:
        publisher = await publish("video/VP8")
        viewer = await watch(publisher.feed, "video/VP8", "vp8")
        await until(lambda: len(viewer.lumas) >= 10, 15, "first frames")
        before_requests = publisher.feed.keyframe_requests
        keyframes = sum(p.is_keyframe for p in viewer.packets)
        sender = viewer.server.getTransceivers()[0].sender
        for _ in range(10):  # a burst of PLIs, as from a browser after loss
            sender._send_keyframe()
        await asyncio.sleep(1.2)
        # Coalesced: at most one now and one per half second after.
        assert 1 <= publisher.feed.keyframe_requests - before_requests <= 2
        assert sum(p.is_keyframe for p in viewer.packets) > keyframes
        await close_all(publisher.client, publisher.server, viewer.server, viewer.client)

    run(scenario)


def test_a_slow_viewer_drops_to_the_next_keyframe_and_slows_nobody() -> None:
    async def scenario() -> None:
        publisher = await publish("video/H264")
        steady = await watch(publisher.feed, "video/H264", "h264")
        stalled = Outlet("video")  # a subscriber whose sender never reads
        stalled.attach(publisher.feed)
        await until(lambda: len(steady.lumas) >= 90, 15, "three seconds of frames")
        assert stalled.dropped > 0
        assert stalled._queue.qsize() <= stalled.capacity
        frames_before = len(steady.lumas)
        await asyncio.sleep(1)
        assert len(steady.lumas) - frames_before >= 20  # still ~30 fps
        # Once it reads again, it starts at a keyframe: no broken picture.
        first = await asyncio.wait_for(stalled.recv(), 5)
        assert first.is_keyframe
        assert steady.undecodable == 0
        stalled.stop()
        await close_all(publisher.client, publisher.server, steady.server, steady.client)

    run(scenario)


def test_a_slot_switches_source_on_a_keyframe_with_continuous_timestamps() -> None:
    async def scenario() -> None:
        first, second = await publish("video/VP8"), await publish("video/VP8")
        viewer = await watch(first.feed, "video/VP8", "vp8")
        await until(lambda: len(viewer.lumas) >= 20, 15, "frames of the first source")
        switch_at = len(viewer.packets)
        viewer.outlet.attach(second.feed)
        await until(lambda: viewer.outlet.source is second.feed, 5, "the switch")
        await until(lambda: len(viewer.packets) >= switch_at + 30, 10, "frames after it")
        after = viewer.packets[switch_at:]
        switched = next(i for i, p in enumerate(after) if p.is_keyframe)
        pts = [p.pts for p in viewer.packets]
        steps = [b - a for a, b in zip(pts, pts[1:], strict=False)]
        assert all(0 < step <= 9000 for step in steps)  # never back, never a long gap
        assert viewer.undecodable == 0 and switched < 30
        assert first.feed not in [viewer.outlet.source, viewer.outlet.pending]
        await close_all(first.client, first.server, second.client, second.server)
        await close_all(viewer.server, viewer.client)

    run(scenario)


def test_a_publisher_leaving_leaves_its_viewers_waiting_not_broken() -> None:
    async def scenario() -> None:
        leaving, staying = await publish("video/VP8"), await publish("video/VP8")
        orphan = await watch(leaving.feed, "video/VP8", "vp8")
        other = await watch(staying.feed, "video/VP8", "vp8")
        await until(lambda: len(orphan.lumas) >= 10 and len(other.lumas) >= 10, 15, "frames")
        await close_all(leaving.client, leaving.server)
        await until(lambda: orphan.outlet.source is None, 5, "the outlet to notice")
        count = len(other.lumas)
        await asyncio.sleep(1)
        assert len(other.lumas) - count >= 20
        orphan.outlet.attach(staying.feed)  # the slot takes another source
        await until(lambda: len(orphan.lumas) >= 20, 5, "frames from the new source")
        await close_all(staying.client, staying.server, orphan.server, other.server)
        await close_all(orphan.client, other.client)

    run(scenario)
