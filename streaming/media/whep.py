"""WHEP (the WebRTC-HTTP egress protocol): a player POSTs an SDP offer and gets the program at
WebRTC latency (a few hundred milliseconds) instead of HLS's seconds. Meant for the few who need
it, terminal sites showing a congress on their TV: every WHEP viewer is a peer connection, where
HLS serves thousands from storage or a CDN.

A viewer is forwarded the program's own frames (see broadcast.Program.watch), so they cost what
a room participant's slot costs. The answer carries every ICE candidate (no trickle, as aiortc
gathers before it answers); DELETE on the session's Location ends it.
"""

import secrets
from dataclasses import dataclass

from aiortc import RTCIceServer, RTCPeerConnection, RTCSessionDescription

from streaming.media.broadcast import Program
from streaming.media.forwarder import Outlet, connect
from streaming.media.peers import local_sdp, new_peer_connection
from streaming.media.signalling import SignallingError, offered_kinds, prefer


@dataclass
class Viewer:
    connection: RTCPeerConnection
    outlets: list[Outlet]


class WhepEndpoint:
    """The WHEP viewers of one program, by session id."""

    def __init__(
        self, program: Program, ice_servers: list[RTCIceServer], announced: str = ""
    ) -> None:
        self.program = program
        self.ice_servers = ice_servers
        self.announced = announced
        self.viewers: dict[str, Viewer] = {}

    async def answer(self, offer: str) -> tuple[str, str]:
        """A new viewer's session id and the SDP answer; SignallingError for a bad offer."""
        kinds = offered_kinds(offer)
        connection = new_peer_connection(self.ice_servers)
        outlets = []
        for kind in kinds:  # in the offer's order (see signalling.Session._publish)
            outlet = Outlet(kind)
            transceiver = connection.addTransceiver(outlet, direction="sendonly")
            if kind == "video":
                prefer(transceiver, self.program.room.video_codec)
            connect(transceiver.sender, outlet)
            outlets.append(outlet)
        try:
            await connection.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await connection.setLocalDescription(await connection.createAnswer())
        except Exception as exc:  # aiortc reports a bad description with many exception types
            await connection.close()
            raise SignallingError("bad_sdp", f"the offer was refused: {exc}") from exc
        for outlet in outlets:
            self.program.watch(outlet)
        session_id = secrets.token_urlsafe(12)
        self.viewers[session_id] = Viewer(connection, outlets)
        return session_id, local_sdp(connection, self.announced)

    async def end(self, session_id: str) -> bool:
        viewer = self.viewers.pop(session_id, None)
        if viewer is None:
            return False
        for outlet in viewer.outlets:
            self.program.unwatch(outlet)
        await viewer.connection.close()
        return True

    async def close(self) -> None:
        for session_id in list(self.viewers):
            await self.end(session_id)
