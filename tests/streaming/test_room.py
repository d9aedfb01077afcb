"""A room's media with real peers: Last-N seating follows the spotlight and the active speaker,
the chair's mute stops a voice at the server, a seat changes hands on a keyframe, and publishers
slow down for the weakest viewer they serve."""

import pytest
from aiortc.rtp import AnyRtcpPacket, RtcpPsfbPacket, pack_remb_fci

from streaming.media.forwarder import remb_bitrate
from streaming.media.room import MediaRoom
from tests.streaming.peers import close_all, join, publish, run, until, watch

pytestmark = pytest.mark.engine_neutral  # peers on loopback; no database or queue

TINTS = {"chair": 60, "ma": 100, "niu": 140, "yang": 180, "zhu": 220}


def test_last_n_seats_the_spotlight_and_the_speaker_and_mute_silences_at_the_server() -> None:
    async def scenario() -> None:
        room = MediaRoom(tiles=1, lanes=2)  # three video slots, two audio lanes
        layouts: list[str] = []
        room.on_layout = lambda viewer, subscription: layouts.append(viewer)
        room.start()
        members = {
            name: await join(room, name, tint, loud=name == "chair", decode=name == "zhu")
            for name, tint in TINTS.items()
        }
        zhu = members["zhu"]
        # Four others publish, three slots: the chair, heard speaking, is seated.
        await until(lambda: room.speaker.current == "chair", 5, "the chair as speaker")
        assert "chair" in zhu.subscription.seated
        assert None not in zhu.subscription.seated and "zhu" not in zhu.subscription.seated
        room.set_spotlight("niu")
        seated = zhu.subscription.seated
        assert "niu" in seated and "chair" in seated
        for slot, who in enumerate(seated):
            assert who is not None
            await until(
                lambda slot=slot, who=who: zhu.tints(slot) == {TINTS[who]},
                5,
                f"{who}'s picture in slot {slot}",
            )
        # Each slot's pictures advance (the cameras count frames in their brightness).
        counts = [len(frames) for frames in zhu.video]
        await until(
            lambda: all(len(f) >= c + 30 for f, c in zip(zhu.video, counts, strict=True)),
            5,
            "a second of frames in every slot",
        )
        assert all(len({luma for luma, _ in frames[-30:]}) >= 10 for frames in zhu.video)
        # The chair's voice reaches zhu; once muted, it stops at the server.
        lane = zhu.subscription.heard.index("chair")
        await until(lambda: zhu.loud(lane), 5, "the chair's voice")
        room.set_muted("chair", True)
        assert "chair" not in zhu.subscription.heard
        # The chair talks on; every lane falls quiet (this one process encodes five cameras, so
        # what it forwards reaches the viewer some frames late).
        await until(
            lambda: all(len(zhu.audio[n]) > 25 and not zhu.loud(n) for n in range(room.lanes)),
            20,
            "the chair's voice to stop reaching zhu",
        )
        assert "zhu" in layouts
        await room.close()
        await close_all(*(p for member in members.values() for p in member.peers))

    run(scenario)


def test_a_leaving_member_frees_their_seat_for_the_next() -> None:
    async def scenario() -> None:
        room = MediaRoom(tiles=0, lanes=1)  # two video slots
        room.start()
        members = {
            name: await join(room, name, TINTS[name], loud=False, decode=name == "zhu")
            for name in TINTS
        }
        zhu = members["zhu"]
        assert zhu.subscription.seated == ["chair", "ma"]
        ma_slot = zhu.subscription.seated.index("ma")
        await room.leave("ma")
        await close_all(*members["ma"].peers)
        assert zhu.subscription.seated[ma_slot] == "niu"  # the next arrival, same slot
        assert zhu.subscription.seated[1 - ma_slot] == "chair"  # untouched
        await until(lambda: zhu.tints(ma_slot, 5) == {TINTS["niu"]}, 5, "niu's picture")
        await room.close()
        await close_all(*(p for m in members.values() if m.name != "ma" for p in m.peers))

    run(scenario)


def test_the_publisher_slows_down_for_its_weakest_viewer() -> None:
    async def scenario() -> None:
        publisher = await publish("video/VP8")
        fast = await watch(publisher.feed, "video/VP8", "vp8")
        slow = await watch(publisher.feed, "video/VP8", "vp8")
        await until(lambda: fast.outlet.estimate is not None, 10, "a bandwidth estimate")
        # The slow viewer's link estimates 100 kbps whatever its estimator measured.
        receiver = slow.client.getTransceivers()[0].receiver
        send_rtcp = receiver._send_rtcp

        async def on_a_poor_link(packet: AnyRtcpPacket) -> None:
            remb = remb_bitrate(packet)
            if remb is not None:
                assert isinstance(packet, RtcpPsfbPacket)
                packet.fci = pack_remb_fci(100_000, remb[1])
            await send_rtcp(packet)

        receiver._send_rtcp = on_a_poor_link  # type: ignore[method-assign]
        await until(lambda: slow.outlet.estimate == 100_000, 10, "the slow viewer's estimate")
        encoder = publisher.client.getTransceivers()[0].sender._RTCRtpSender__encoder  # type: ignore[attr-defined]
        # aiortc's VP8 encoder floors its target at 250 kbps.
        await until(lambda: encoder.target_bitrate == 250_000, 10, "the publisher to slow down")
        assert (publisher.feed.weakest_estimate() or 0) <= 100_000
        await close_all(publisher.client, publisher.server, fast.server, slow.server)
        await close_all(fast.client, slow.client)

    run(scenario)
