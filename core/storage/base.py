"""The storage interface, its errors, and the rules for object keys and content types."""

from __future__ import annotations

import builtins
import mimetypes
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from core.errors import TemporaryError

CHUNK_SIZE = 256 * 1024
"""Default size of the pieces `open_range` yields."""

MAX_KEY_BYTES = 1024
_TEMP_PREFIX = ".~"  # in-progress writes and content-type sidecars; never a key segment
_COPY_BUFFER = 1024 * 1024

_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
    ".vtt": "text/vtt",
    ".json": "application/json",
}
_DEFAULT_CONTENT_TYPE = "application/octet-stream"
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class StorageError(TemporaryError):
    """The object store failed to do what was asked; the message names the key."""

    internal = True


class ObjectNotFound(StorageError):
    """No object is stored under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object not found: {key}")
        self.key = key


class RangeNotSatisfiable(StorageError):
    """A byte range starts at or past the end of the object (HTTP 416)."""

    def __init__(self, key: str, start: int) -> None:
        super().__init__(f"range starting at byte {start} is past the end of {key}")
        self.key = key
        self.start = start


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows about one object without reading it."""

    key: str
    size: int
    etag: str
    content_type: str
    modified: datetime


def _check_segments(segments: builtins.list[str], what: str, value: str) -> None:
    """Reject empty, relative, reserved or control-character segments (path traversal guard)."""
    for segment in segments:
        if segment == "":
            raise ValueError(f"{what} has an empty segment: {value!r}")
        if segment in (".", ".."):
            raise ValueError(f"{what} has a relative segment: {value!r}")
        if segment.startswith(_TEMP_PREFIX):
            raise ValueError(f"{what} segment may not start with {_TEMP_PREFIX!r}: {value!r}")


def _check_characters(value: str, what: str) -> None:
    """Reject backslashes, control characters, leading slashes and over-long values."""
    if "\\" in value:
        raise ValueError(f"{what} contains a backslash: {value!r}")
    if _CONTROL_CHARS.search(value):
        raise ValueError(f"{what} contains a control character: {value!r}")
    if value.startswith("/"):
        raise ValueError(f"{what} starts with '/': {value!r}")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise ValueError(f"{what} is longer than {MAX_KEY_BYTES} bytes")


def validate_key(key: str) -> str:
    """Return `key` if it is a safe '/'-separated object key, else raise ValueError."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"object key must be a non-empty string, got {key!r}")
    _check_characters(key, "object key")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"object key is not valid UTF-8 text: {key!r}") from None
    _check_segments(key.split("/"), "object key", key)
    return key


def validate_prefix(prefix: str) -> str:
    """Return `prefix` if it is '' or the start of a valid key (a trailing '/' is allowed)."""
    if prefix == "":
        return prefix
    if not isinstance(prefix, str):
        raise ValueError(f"prefix must be a string, got {prefix!r}")
    _check_characters(prefix, "prefix")
    directories = prefix.rpartition("/")[0]
    if directories:
        _check_segments(directories.split("/"), "prefix", prefix)
    return prefix


def guess_content_type(key: str) -> str:
    """The Content-Type for a key from its extension; HLS and fMP4 types are fixed here."""
    suffix = os.path.splitext(key)[1].lower()
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or _DEFAULT_CONTENT_TYPE


def _check_range(start: int, end: int | None) -> None:
    """Reject byte ranges that no object could satisfy."""
    if start < 0:
        raise ValueError(f"range start must be >= 0, got {start}")
    if end is not None and end < start:
        raise ValueError(f"range end {end} is before start {start}")


class ObjectStore(ABC):
    """Where lessons, posters and attachments live; the app never cares which backend it is."""

    @abstractmethod
    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        """Store the file at `path` under `key`, streaming it (multipart on S3)."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Store `data` under `key`, replacing any previous object atomically."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Read a whole (small) object; raises ObjectNotFound."""

    @abstractmethod
    def download(self, key: str, path: Path) -> None:
        """Copy an object to a local file, which appears complete or not at all."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Describe an object; raises ObjectNotFound."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    @abstractmethod
    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes start..end inclusive (end None = to the end), as HTTP Range does.

        The object is opened before this returns, so ObjectNotFound and RangeNotSatisfiable are
        raised here, not during iteration; an `end` past the object is clamped.
        """

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Every key starting with `prefix` (a plain string prefix), recursively, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; a missing object is not an error."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix`; returns how many."""

    @abstractmethod
    def presigned_url(self, key: str, *, expires: timedelta) -> str | None:
        """A short-lived URL a browser can GET directly, or None if the app must serve it."""

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """The file holding the object if this store keeps objects on local disk, else None."""

    @abstractmethod
    def check(self) -> None:
        """Cheap health check for /healthz; raises StorageError when the store is unusable."""
