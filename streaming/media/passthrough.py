"""Encoded frames out of aiortc's receivers instead of decoded pictures.

aiortc reassembles each incoming frame in its jitter buffer (keeping NACK, RTX and RTCP
working), then hands it to a decoder made by ``rtcrtpreceiver.get_decoder`` on a thread per
receiver. Replacing that factory makes every remote track yield the reassembled frame as an
``av.Packet`` (pts in the codec's clock, keyframes marked), which a sender can packetize again
with ``Encoder.pack`` — so a frame crosses the server with no decode and no re-encode.

On the way out, every subscriber's sender packetizes the same frame the same way: H.264 is
split into the same RTP payloads (only the RTP header, with the sender's own sequence numbers,
and the encryption differ), so the senders' packer is replaced by one that splits each frame
once for all of them (``SharedH264Packer``).

Both factories are looked up at call time, process-wide: a process that forwards media installs
this once and decodes nothing over WebRTC itself. aiortc is pinned; ``tests/streaming``
fails if the internals relied on here change.
"""

from collections import OrderedDict
from fractions import Fraction

import av
from aiortc import rtcrtpreceiver, rtcrtpsender
from aiortc.codecs import get_encoder
from aiortc.codecs.base import Encoder
from aiortc.codecs.h264 import H264Encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

H264_IDR = 5


def h264_has_idr(annex_b: bytes) -> bool:
    """True when an Annex-B access unit holds an IDR slice (a picture decodable on its own)."""
    start = annex_b.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(annex_b):
        if annex_b[start + 3] & 0x1F == H264_IDR:
            return True
        start = annex_b.find(b"\x00\x00\x01", start + 3)
    return False


def vp8_is_keyframe(frame: bytes) -> bool:
    """RFC 6386 §9.1: the first bit of a VP8 frame is 0 for a key frame."""
    return bool(frame) and frame[0] & 0x01 == 0


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """Whether a frame starts a decodable sequence; every audio frame does."""
    name = codec_name.lower()
    if name == "h264":
        return h264_has_idr(data)
    if name == "vp8":
        return vp8_is_keyframe(data)
    return True


class PassthroughDecoder:
    """Stands where aiortc's decoder stands and returns the frame still encoded."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self.codec_name = codec.name
        self.time_base = Fraction(1, codec.clockRate)

    def decode(self, encoded_frame: JitterFrame) -> list[av.Packet]:
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = self.time_base
        packet.is_keyframe = is_keyframe(self.codec_name, encoded_frame.data)
        return [packet]


class SharedH264Packer(H264Encoder):
    """An H.264 sender's packer that splits each forwarded frame into RTP payloads once for
    every sender it reaches: the outlets of a feed hand their senders the same ``av.Packet``.
    The last ``KEPT`` frames' payloads are kept (a lagging outlet is a few frames behind)."""

    KEPT = 64
    _packed: "OrderedDict[int, tuple[av.Packet, list[bytes], int]]" = OrderedDict()

    def pack(self, packet: av.Packet) -> tuple[list[bytes], int]:
        packed = self._packed.get(id(packet))
        if packed is not None and packed[0] is packet:  # the same frame, not a new one at its id
            return packed[1], packed[2]
        payloads, timestamp = super().pack(packet)
        self._packed[id(packet)] = (packet, payloads, timestamp)
        if len(self._packed) > self.KEPT:
            self._packed.popitem(last=False)
        return payloads, timestamp


def sender_encoder(codec: RTCRtpCodecParameters) -> Encoder:
    """aiortc's encoder for ``codec``; for H.264, the shared packer."""
    if codec.mimeType.lower() == "video/h264":
        return SharedH264Packer()
    return get_encoder(codec)


def install() -> None:
    """Make this process's WebRTC receivers yield encoded frames, and its H.264 senders
    packetize each forwarded frame once (idempotent)."""
    rtcrtpreceiver.get_decoder = PassthroughDecoder  # type: ignore[assignment]
    rtcrtpsender.get_encoder = sender_encoder


def installed() -> bool:
    return rtcrtpreceiver.get_decoder is PassthroughDecoder
