"""WHIP (RFC 9725): an encoder at the main venue (OBS 30+, a hardware encoder, GStreamer's
whipclientsink, FFmpeg 8) POSTs an SDP offer and publishes the program feed, which the
broadcast shows rather than the room while it is on (broadcast.Program.feed).

One feed per event at a time: a second encoder is refused (``FeedBusy``) until the first ends
its session (DELETE on its Location) or its connection fails. The feed must be H.264: the
broadcast remuxes it as it comes, never encoding it again, and every WHIP encoder sends H.264
(a VP8 offer is refused with the reason, rather than decoded and encoded on the node as a VP8
room's cameras are: that would cost the node a core for what the encoder can be set to send).
Its sound must be Opus, which the program's mix decodes. As with WHEP, the answer carries
every ICE candidate (aiortc gathers before it answers): no trickle, no PATCH.
"""

import asyncio
import secrets
from collections.abc import Callable

from aiortc import (
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
    sdp,
)

from streaming.media.forwarder import Feed
from streaming.media.peers import local_sdp, new_peer_connection
from streaming.media.room import Publication
from streaming.media.signalling import SignallingError, offered_kinds, prefer

CODECS = {"video": "video/H264", "audio": "audio/opus"}
"""What the feed must send: H.264 to remux, Opus for the mix."""


class FeedBusy(Exception):
    """Another encoder's feed is on: one at a time."""


def check_codecs(offer: str) -> None:
    """Refuse, saying why, an offer whose media lack the feed's codecs."""
    for media in sdp.SessionDescription.parse(offer).media:
        wanted = CODECS[media.kind]
        if not any(codec.mimeType.lower() == wanted.lower() for codec in media.rtp.codecs):
            raise SignallingError(
                "bad_sdp",
                f"the program feed's {media.kind} must be {wanted.split('/')[1]}: the broadcast "
                "passes it on as it is; set the encoder to it",
            )


class WhipEndpoint:
    """The program feed of one event: its encoder's connection, and the feed it publishes.
    ``on_feed`` is told the feed when it starts and None when it ends."""

    def __init__(
        self,
        ice_servers: list[RTCIceServer],
        announced: str = "",
        on_feed: Callable[[Publication | None], None] | None = None,
    ) -> None:
        self.ice_servers = ice_servers
        self.announced = announced
        self.on_feed = on_feed
        self.session_id: str | None = None
        self.connection: RTCPeerConnection | None = None
        self.feed: Publication | None = None

    async def publish(self, offer: str) -> tuple[str, str]:
        """The new feed's session id and the SDP answer; SignallingError for a bad offer,
        FeedBusy while another feed is on."""
        if self.session_id is not None:
            raise FeedBusy
        kinds = offered_kinds(offer)
        check_codecs(offer)
        connection = new_peer_connection(self.ice_servers)
        for kind in kinds:  # in the offer's order (see signalling.Session._publish)
            prefer(connection.addTransceiver(kind, direction="recvonly"), CODECS[kind])
        try:
            await connection.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await connection.setLocalDescription(await connection.createAnswer())
        except Exception as exc:  # aiortc reports a bad description with many exception types
            await connection.close()
            raise SignallingError("bad_sdp", f"the offer was refused: {exc}") from exc
        if self.session_id is not None:  # another encoder got in while this one negotiated
            await connection.close()
            raise FeedBusy
        feed = Publication()
        for transceiver in connection.getTransceivers():
            track = transceiver.receiver.track
            if transceiver.mid is not None and track is not None:
                setattr(feed, track.kind, Feed(track, transceiver.receiver))
        session_id = secrets.token_urlsafe(12)
        self.session_id, self.connection, self.feed = session_id, connection, feed

        @connection.on("connectionstatechange")
        async def dropped() -> None:
            if connection.connectionState in ("failed", "closed"):
                await self.end(session_id)

        if self.on_feed is not None:
            self.on_feed(feed)
        return session_id, local_sdp(connection, self.announced)

    async def end(self, session_id: str) -> bool:
        """The encoder stopped (or its connection failed): the program goes back to the room."""
        if session_id != self.session_id:
            return False
        connection, feed = self.connection, self.feed
        self.session_id, self.connection, self.feed = None, None, None
        if self.on_feed is not None:
            self.on_feed(None)
        if feed is not None:
            await asyncio.gather(*(f.close() for f in (feed.audio, feed.video) if f is not None))
        if connection is not None:
            await connection.close()
        return True

    async def close(self) -> None:
        if self.session_id is not None:
            await self.end(self.session_id)
