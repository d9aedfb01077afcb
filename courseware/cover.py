"""What a course cover may be: a JPEG, PNG or WebP picture, recognised by its content.

The file's name and the browser's content type are not trusted. The picture's size is read from
its header first, so a small file that claims a huge picture (a decompression bomb) is refused
before anything decodes it; then PyAV decodes it whole, so a truncated or forged file is refused
too, and what is stored is a picture every browser can show.
"""

import io
import struct
from dataclasses import dataclass

import av

from core.errors import InvalidInput
from core.i18n import N_
from courseware.models import Course

MAX_COVER_BYTES = 5 * 1024 * 1024
MAX_COVER_SIDE = 4096


@dataclass(frozen=True)
class Picture:
    """A checked cover picture: its format's file extension and content type, and its size."""

    extension: str
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class _Format:
    extension: str
    content_type: str
    demuxer: str


_JPEG = _Format("jpg", "image/jpeg", "jpeg_pipe")
_PNG = _Format("png", "image/png", "png_pipe")
_WEBP = _Format("webp", "image/webp", "webp_pipe")
EXTENSIONS = (_JPEG.extension, _PNG.extension, _WEBP.extension)
# JPEG start-of-frame markers (SOF0-SOF15 except DHT, JPG and DAC) carry the picture's size.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            offset += 2
            continue
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        if marker in _JPEG_FRAMES and offset + 9 <= len(data):
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return width, height
        offset += 2 + length
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk, body = data[12:16], data[20:]
    if chunk == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        (bits,) = struct.unpack("<I", body[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(body) >= 10:
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return width, height
    return None


def _sniff(data: bytes) -> tuple[_Format, tuple[int, int] | None] | None:
    if data.startswith(b"\xff\xd8\xff"):
        return _JPEG, _jpeg_size(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _PNG, _png_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _WEBP, _webp_size(data)
    return None


def read_cover(data: bytes) -> Picture:
    """The picture in `data`, or InvalidInput saying why it cannot be a cover."""
    if len(data) > MAX_COVER_BYTES:
        raise InvalidInput(
            N_("The picture is larger than %(limit)s MB."), limit=MAX_COVER_BYTES // 1024**2
        )
    sniffed = _sniff(data)
    if sniffed is None:
        raise InvalidInput(N_("The cover must be a JPEG, PNG or WebP picture."))
    kind, size = sniffed
    if size is None or min(size) < 1:
        raise InvalidInput(N_("The picture is damaged or incomplete."))
    if max(size) > MAX_COVER_SIDE:
        raise InvalidInput(
            N_("The picture is %(width)s×%(height)s pixels; at most %(limit)s on a side."),
            width=size[0],
            height=size[1],
            limit=MAX_COVER_SIDE,
        )
    try:
        with av.open(io.BytesIO(data), mode="r", format=kind.demuxer) as container:
            frame = next(container.decode(video=0))
    except (av.FFmpegError, StopIteration, IndexError) as exc:
        raise InvalidInput(N_("The picture is damaged or incomplete.")) from exc
    if (frame.width, frame.height) != size:
        raise InvalidInput(N_("The picture is damaged or incomplete."))
    return Picture(kind.extension, kind.content_type, frame.width, frame.height)


def cover_url(course: Course) -> str | None:
    """Where the course's cover is served; the version in the query outdates cached copies."""
    if course.cover_key is None:
        return None
    changed = course.updated_at or course.created_at
    return f"/media/courses/{course.id}/cover?v={int(changed.timestamp())}"
