"""Delivering media objects: direct links, signed links to the app's own store, Range responses.

With S3 the viewer gets presigned URLs and the app is out of the data path. With the local store
the app serves the bytes itself; media files inside a playlist then get an HMAC-signed, expiring
link, so each segment request is checked by one hash instead of a session and two database
lookups (the rights were checked when the playlist was fetched). Links are signed with the
"media-link" key derived from the secret (core.security), never with the secret itself.
"""

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote

import anyio
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import NotFound
from core.i18n import N_
from core.storage import ObjectInfo, ObjectNotFound, ObjectStore

T = TypeVar("T")
SIGNED_PREFIX = "/media/o/"
# Up to this size a (ranged) object is read in one call and sent as one body: fewer thread hops.
WHOLE_READ_LIMIT = 16 * 1024 * 1024


def _signature(key: str, expires_at: int, secret: bytes) -> str:
    message = f"{key}\n{expires_at}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def direct_url(store: ObjectStore, key: str, *, ttl: timedelta, secret: bytes) -> str:
    """A URL a player may fetch `key` from without a session: presigned on S3, signed locally."""
    presigned = store.presigned_url(key, expires=ttl)
    if presigned is not None:
        return presigned
    expires_at = int(time.time() + ttl.total_seconds())
    signature = _signature(key, expires_at, secret)
    return f"{SIGNED_PREFIX}{quote(key)}?e={expires_at}&s={signature}"


def check_signature(key: str, expires_at: int, signature: str, *, secret: bytes) -> None:
    """NotFound unless the link was signed by this platform for `key` and has not expired."""
    expected = _signature(key, expires_at, secret)
    if expires_at < time.time() or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise NotFound(N_("The link has expired: reload the page."))


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


class HotObjects:
    """A bounded LRU of small, recently served objects, keyed by (key, etag).

    Many viewers of one lesson ask for the same segments within seconds (a village room, a
    live replay). Serving those from memory saves a file read and its copy per request; the
    etag in the key (inode, mtime, size on the local store) makes a rewritten object a miss.
    """

    def __init__(self, *, capacity: int, object_limit: int) -> None:
        self.capacity = capacity
        self.object_limit = object_limit
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str, etag: str) -> bytes | None:
        """The cached bytes of this version of the object, if present."""
        with self._lock:
            data = self._items.get((key, etag))
            if data is not None:
                self._items.move_to_end((key, etag))
            return data

    def put(self, key: str, etag: str, data: bytes) -> None:
        """Keep `data`, evicting the least recently used objects beyond the capacity."""
        if len(data) > self.object_limit or len(data) > self.capacity:
            return
        with self._lock:
            if (key, etag) in self._items:
                return
            self._items[(key, etag)] = data
            self._size += len(data)
            while self._size > self.capacity:
                _, evicted = self._items.popitem(last=False)
                self._size -= len(evicted)


hot_objects = HotObjects(capacity=128 * 1024 * 1024, object_limit=8 * 1024 * 1024)

# Media file work gets threads of its own, apart from the pool that handlers and database work
# share: a segment never waits in line behind a slow query or a busy page.
_media_threads = anyio.CapacityLimiter(32)


async def read_in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run blocking store work (read, stat) off the event loop, on the media threads."""
    return await anyio.to_thread.run_sync(function, *args, limiter=_media_threads)


class _Unsatisfiable(Exception):
    """The Range header cannot be met for an object of `size` bytes (answered with 416)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _read_object(
    store: ObjectStore, key: str, range_header: str | None
) -> tuple[ObjectInfo, int, int, bytes | Iterator[bytes]]:
    """Stat the object and get the wanted bytes: small objects whole (from memory when hot),
    large ones as an open chunk iterator. The blocking work of one request in one thread hop."""
    info = store.stat(key)
    try:
        wanted = parse_range(range_header, info.size)
    except ValueError as exc:
        raise _Unsatisfiable(info.size) from exc
    start, end = wanted if wanted else (0, info.size - 1)
    if info.size > WHOLE_READ_LIMIT:
        return info, start, end, store.open_range(key, start, end)
    data = hot_objects.get(key, info.etag)
    if data is None:
        data = store.get_bytes(key)
        hot_objects.put(key, info.etag, data)
    return info, start, end, data if wanted is None else data[start : end + 1]


async def _chunks(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Pull a blocking chunk iterator on the media threads."""
    while (chunk := await read_in_thread(next, iterator, None)) is not None:
        yield chunk


async def object_response(
    store: ObjectStore, key: str, range_header: str | None, *, ttl: timedelta
) -> Response:
    """The object at `key`: a redirect to a presigned URL on S3, else its bytes with Range."""
    presigned = store.presigned_url(key, expires=ttl)
    if presigned is not None:
        return RedirectResponse(presigned, status_code=302)
    try:
        info, start, end, body = await read_in_thread(_read_object, store, key, range_header)
    except ObjectNotFound as exc:
        raise NotFound(N_("File not found.")) from exc
    except _Unsatisfiable as exc:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{exc.size}"})
    status = 206 if range_header else 200
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{info.etag}"',
        "Cache-Control": "private, max-age=3600",
    }
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    if isinstance(body, bytes):
        return Response(body, status_code=status, media_type=info.content_type, headers=headers)
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(
        _chunks(body),
        status_code=status,
        media_type=info.content_type,
        headers=headers,
    )


class SignedMedia:
    """ASGI middleware: answers a valid signed media link (`/media/o/...`) itself, before the
    session, the router and its dependencies, which would cost more than the HMAC check and the
    read; an S3 store, a bad or expired link or a missing object goes on to the app's route,
    which redirects or gives the error. Nothing here touches the database."""

    def __init__(
        self, app: ASGIApp, *, store: Callable[[], ObjectStore], secret: bytes, ttl: timedelta
    ) -> None:
        self.app = app
        self.store = store
        self.secret = secret
        self.ttl = ttl

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith(SIGNED_PREFIX)
            and (response := await self._answer(scope)) is not None
        ):
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope) -> Response | None:
        query = parse_qs(scope["query_string"].decode("latin-1"))
        key = scope["path"][len(SIGNED_PREFIX) :]
        range_header = next(
            (value.decode("latin-1") for name, value in scope["headers"] if name == b"range"), None
        )
        try:
            check_signature(key, int(query["e"][0]), query["s"][0], secret=self.secret)
            store = self.store()
            if store.presigned_url(key, expires=self.ttl) is not None:
                return None
            return await object_response(store, key, range_header, ttl=self.ttl)
        except (KeyError, ValueError, NotFound):
            return None
