"""Peer connections as the media node makes them."""

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCPeerConnection


def new_peer_connection(ice_servers: list[RTCIceServer]) -> RTCPeerConnection:
    """A connection that bundles every track on one transport (max-bundle).

    With aiortc's default ("balanced") policy, a second track of the same kind rides on the first
    one's provisional transport; when the answer bundles all media onto the first transport,
    aiortc moves only the tracks that were not yet bundled, so that second track stays on a
    transport that never starts and its sender never sends (found with two audio lanes after
    video slots). Browsers bundle everything anyway.
    """
    return RTCPeerConnection(
        RTCConfiguration(iceServers=ice_servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


def local_sdp(connection: RTCPeerConnection, announced_address: str = "") -> str:
    """The connection's local description, its host candidates given ``announced_address``
    when browsers reach this node at an address it does not see (a container's published
    ports, a 1:1 NAT): they send to it, and the forwarding lands on the port gathered."""
    description = connection.localDescription.sdp
    if not announced_address:
        return description
    family = "IP6" if ":" in announced_address else "IP4"
    lines = []
    for line in description.split("\r\n"):
        fields = line.split(" ")
        if line.startswith("a=candidate:") and fields[6:8] == ["typ", "host"]:
            fields[4] = announced_address
            line = " ".join(fields)
        elif line.startswith("c=IN "):
            line = f"c=IN {family} {announced_address}"
        lines.append(line)
    return "\r\n".join(lines)
