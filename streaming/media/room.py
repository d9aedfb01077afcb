"""One room's media on its node: who publishes, who is speaking, and what each viewer receives.

Every viewer has a fixed set of outlets, negotiated once when they join: ``tiles + 2`` video
slots (the spotlight, the active speaker and up to ``tiles`` others: Last-N) and ``lanes`` audio
lanes. The room seats participants in them as people arrive, speak, are spotlit, muted or
leave; a viewer's connection never has to be renegotiated, and what reaches them is bounded
however large the room grows.

Audio is not mixed (that would mean decoding): the lanes carry the loudest unmuted voices, four
by default — a congress has one speaker with the floor and a chair, so four lanes hear everyone
allowed to speak, and a branch meeting's crosstalk beyond four voices is noise to a listener
anyway. The chair's mute is enforced here, in what is forwarded, not only in the speaker's
browser.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import MediaStreamTrack, RTCRtpReceiver

from streaming.media.forwarder import Feed, Outlet
from streaming.media.selection import ActiveSpeaker, fill_slots, video_order

TILES = 6
AUDIO_LANES = 4
TICK = 0.25
"""Seconds between judgements of who is speaking."""


@dataclass
class Publication:
    audio: Feed | None = None
    video: Feed | None = None


@dataclass
class Subscription:
    """A viewer's outlets and who is seated in each; the page labels its tiles from ``seated``."""

    video: list[Outlet]
    audio: list[Outlet]
    seated: list[str | None]
    heard: list[str | None]


@dataclass
class MediaRoom:
    """``on_layout(participant, subscription)`` is told whenever a viewer's seating changes."""

    tiles: int = TILES
    lanes: int = AUDIO_LANES
    video_codec: str = "video/H264"
    """One per room, as a viewer's slot is negotiated once whoever fills it. H.264 by default:
    the broadcast remuxes it without re-encoding, and every WebRTC browser must offer it."""
    on_layout: Callable[[str, Subscription], None] | None = None
    spotlight: str | None = None
    muted: set[str] = field(default_factory=set)
    publications: dict[str, Publication] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    speaker: ActiveSpeaker = field(default_factory=ActiveSpeaker)
    recent: list[str] = field(default_factory=list)
    """Those who held the floor, the latest first: they keep their tiles."""
    _ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._ticker = asyncio.ensure_future(self._judge_speakers())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for participant in list(self.publications) + list(self.subscriptions):
            await self.leave(participant)

    def publish(self, participant: str, track: MediaStreamTrack, receiver: RTCRtpReceiver) -> Feed:
        """Take a participant's camera or microphone into the room."""
        loop = asyncio.get_running_loop()

        def hear(level: int) -> None:
            self.speaker.hear(participant, loop.time(), level)

        feed = Feed(track, receiver, on_level=hear if track.kind == "audio" else None)
        publication = self.publications.setdefault(participant, Publication())
        replaced = getattr(publication, track.kind)
        setattr(publication, track.kind, feed)
        if replaced is not None:
            asyncio.ensure_future(replaced.close())
        self.arrange()
        return feed

    def subscribe(self, participant: str, video: bool = True) -> Subscription:
        """The outlets a viewer's connection sends: add them to it, then ``connect`` each sender
        (without ``video``, the lanes alone: the broadcast's sound)."""
        previous = self.subscriptions.get(participant)
        if previous is not None:  # a reconnect: the old connection's outlets are done
            for outlet in previous.video + previous.audio:
                outlet.stop()
        slots = self.tiles + 2 if video else 0
        subscription = Subscription(
            video=[Outlet("video") for _ in range(slots)],
            audio=[Outlet("audio") for _ in range(self.lanes)],
            seated=[None] * slots,
            heard=[None] * self.lanes,
        )
        self.subscriptions[participant] = subscription
        self.arrange()
        return subscription

    async def leave(self, participant: str) -> None:
        publication = self.publications.pop(participant, None)
        subscription = self.subscriptions.pop(participant, None)
        self.speaker.forget(participant)
        self.muted.discard(participant)
        if participant in self.recent:
            self.recent.remove(participant)
        if self.spotlight == participant:
            self.spotlight = None
        if subscription is not None:
            for outlet in subscription.video + subscription.audio:
                outlet.stop()
        if publication is not None:
            for feed in (publication.audio, publication.video):
                if feed is not None:
                    await feed.close()
        self.arrange()

    def set_spotlight(self, participant: str | None) -> None:
        self.spotlight = participant
        self.arrange()

    def set_muted(self, participant: str, muted: bool) -> None:
        (self.muted.add if muted else self.muted.discard)(participant)
        self.arrange()

    async def _judge_speakers(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(TICK)
            before = self.speaker.current
            speaker = self.speaker.update(loop.time())
            if speaker is not None and speaker != before:
                self.recent = [speaker, *(p for p in self.recent if p != speaker)]
                self.arrange()

    def arrange(self) -> None:
        """Seat every viewer's slots and lanes for the room as it now stands."""
        now = asyncio.get_running_loop().time()
        arrivals = list(self.publications)
        cameras = [p for p in arrivals if self.publications[p].video is not None]
        voices = [
            p for p in arrivals if self.publications[p].audio is not None and p not in self.muted
        ]
        voices.sort(key=lambda p: -(self.speaker.loudness(p, now) or 0))
        for viewer, subscription in self.subscriptions.items():
            wanted = video_order(
                (p for p in cameras if p != viewer),
                self.spotlight,
                self.speaker.current,
                self.recent,
            )
            seated = fill_slots(subscription.seated, wanted)
            heard = fill_slots(subscription.heard, [p for p in voices if p != viewer])
            self._seat(subscription.video, seated, "video")
            self._seat(subscription.audio, heard, "audio")
            if seated == subscription.seated and heard == subscription.heard:
                continue
            subscription.seated, subscription.heard = seated, heard
            if self.on_layout is not None:
                self.on_layout(viewer, subscription)

    def _seat(self, outlets: list[Outlet], seating: list[str | None], kind: str) -> None:
        """Point each outlet at its seated participant's current feed (a republished camera is a
        new feed in the same seat)."""
        for outlet, participant in zip(outlets, seating, strict=True):
            publication = self.publications.get(participant) if participant else None
            feed: Feed | None = getattr(publication, kind) if publication else None
            if feed is None:
                if outlet.source is not None or outlet.pending is not None:
                    outlet.detach()
            elif feed is not outlet.source and feed is not outlet.pending:
                outlet.attach(feed)
