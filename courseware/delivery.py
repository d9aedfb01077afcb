"""Delivering media objects: direct links, signed links to the app's own store, Range responses.

With S3 the viewer gets presigned URLs and the app is out of the data path. With the local store
the app serves the bytes itself; media files inside a playlist then get an HMAC-signed, expiring
link, so each segment request is checked by one hash instead of a session and two database
lookups (the rights were checked when the playlist was fetched).
"""

import hashlib
import hmac
import os
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import anyio
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from core.errors import NotFound
from core.storage import ObjectNotFound, ObjectStore

SIGNED_PREFIX = "/media/o/"
# Up to this size a (ranged) object is read in one call and sent as one body: fewer thread hops.
WHOLE_READ_LIMIT = 16 * 1024 * 1024


def _signature(key: str, expires_at: int, secret: str) -> str:
    message = f"{key}\n{expires_at}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def direct_url(store: ObjectStore, key: str, *, ttl: timedelta, secret: str) -> str:
    """A URL a player may fetch `key` from without a session: presigned on S3, signed locally."""
    presigned = store.presigned_url(key, expires=ttl)
    if presigned is not None:
        return presigned
    expires_at = int(time.time() + ttl.total_seconds())
    signature = _signature(key, expires_at, secret)
    return f"{SIGNED_PREFIX}{quote(key)}?e={expires_at}&s={signature}"


def check_signature(key: str, expires_at: int, signature: str, *, secret: str) -> None:
    """NotFound unless the link was signed by this platform for `key` and has not expired."""
    expected = _signature(key, expires_at, secret)
    if expires_at < time.time() or not hmac.compare_digest(expected, signature):
        raise NotFound("链接已失效，请刷新页面 / the link expired, reload the page")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) of the first range in a `Range: bytes=` header; the whole object if absent.

    Raises ValueError when the range cannot be satisfied (answered with 416).
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    first, _, last = spec.split(",")[0].strip().partition("-")
    try:
        if unit.strip() != "bytes" or (first == "" and last == ""):
            raise ValueError(header)
        if first == "":
            start, end = max(size - int(last), 0), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
    except ValueError as exc:
        raise ValueError(f"bad range {header!r}") from exc
    if start > end or start >= size:
        raise ValueError(f"range {header!r} outside {size} bytes")
    return start, end


def _read(path: Path, start: int, length: int) -> bytes:
    with path.open("rb") as handle:
        return os.pread(handle.fileno(), length, start)


async def object_response(
    store: ObjectStore, key: str, range_header: str | None, *, ttl: timedelta
) -> Response:
    """The object at `key`: a redirect to a presigned URL on S3, else its bytes with Range."""
    presigned = store.presigned_url(key, expires=ttl)
    if presigned is not None:
        return RedirectResponse(presigned, status_code=302)
    try:
        info = store.stat(key)
        path = store.local_path(key)
    except ObjectNotFound as exc:
        raise NotFound("文件不存在 / file not found") from exc
    assert path is not None
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{info.etag}"',
        "Cache-Control": "private, max-age=3600",
    }
    try:
        wanted = parse_range(range_header, info.size)
    except ValueError:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{info.size}"})
    status, (start, end) = (206, wanted) if wanted else (200, (0, info.size - 1))
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    length = max(end - start + 1, 0)
    if length <= WHOLE_READ_LIMIT:
        body = await anyio.to_thread.run_sync(_read, path, start, length)
        return Response(body, status_code=status, media_type=info.content_type, headers=headers)
    headers["Content-Length"] = str(length)
    return StreamingResponse(
        store.open_range(key, start, end),
        status_code=status,
        media_type=info.content_type,
        headers=headers,
    )
