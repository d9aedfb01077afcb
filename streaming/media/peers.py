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
