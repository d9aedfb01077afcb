"""Media delivery rules: signed links, byte ranges, and the hot-object cache."""

from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from fastapi.responses import Response
from starlette.types import Message, Receive, Scope, Send

from core.errors import NotFound
from core.storage import LocalStore
from courseware.delivery import (
    HotObjects,
    SignedMedia,
    check_signature,
    direct_url,
    parse_range,
)

pytestmark = pytest.mark.engine_neutral


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=90-500", (90, 99)),
        ("bytes=0-0,5-6", (0, 0)),
    ],
)
def test_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=9-3", "items=0-1", "bytes=-", "bytes=a-b"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(ValueError):
        parse_range(header, 100)


def test_signed_links_are_bound_to_key_secret_and_time(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    url = direct_url(
        store, "lessons/1/hls/360p/seg_00001.m4s", ttl=timedelta(minutes=5), secret=b"k"
    )
    key = url.split("?")[0].removeprefix("/media/o/")
    expires = int(url.split("e=")[1].split("&")[0])
    signature = url.split("s=")[1]
    check_signature(key, expires, signature, secret=b"k")
    for args in [
        ("lessons/1/hls/360p/seg_00002.m4s", expires, signature, b"k"),
        (key, expires + 1, signature, b"k"),
        (key, expires, signature, b"other"),
        (key, 1, signature, b"k"),
    ]:
        with pytest.raises(NotFound):
            check_signature(args[0], args[1], args[2], secret=args[3])


def test_hot_objects_evict_least_recently_used_and_miss_on_a_new_version() -> None:
    cache = HotObjects(capacity=10, object_limit=6)
    cache.put("a", "v1", b"aaaa")
    cache.put("b", "v1", b"bbbb")
    assert cache.get("a", "v1") == b"aaaa"  # a is now the most recent
    cache.put("c", "v1", b"cccc")  # over capacity: b goes
    assert cache.get("b", "v1") is None and cache.get("c", "v1") == b"cccc"
    assert cache.get("a", "v2") is None  # rewritten object: different etag
    cache.put("big", "v1", b"x" * 7)  # over the per-object limit: not kept
    assert cache.get("big", "v1") is None


def test_signed_media_links_are_answered_before_the_app(tmp_path: Path) -> None:
    """A valid signed link is served by the middleware itself (no session, routing or
    database); anything else goes on to the app, whose route answers with the error."""
    store = LocalStore(tmp_path)
    key = "lessons/1/hls/360p/seg_00001.m4s"
    store.put_bytes(key, b"segment-bytes")
    reached: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])
        await Response("from the app", status_code=404)(scope, receive, send)

    media = SignedMedia(app, store=lambda: store, secret=b"k", ttl=timedelta(minutes=5))

    def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        path, _, query = url.partition("?")
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": query.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        }
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            sent.append(message)

        anyio.run(media, scope, receive, send)
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return int(sent[0]["status"]), body

    url = direct_url(store, key, ttl=timedelta(minutes=5), secret=b"k")
    assert get(url) == (200, b"segment-bytes")
    assert get(url, {"Range": "bytes=0-6"}) == (206, b"segment")
    assert reached == []
    forged = url.replace("seg_00001", "seg_00002")
    unsigned = url.split("?")[0]
    missing_key = "lessons/1/hls/360p/seg_00009.m4s"
    missing = direct_url(store, missing_key, ttl=timedelta(minutes=5), secret=b"k")
    for other in (forged, unsigned, missing, "/media/lessons/1/hls/master.m3u8"):
        assert get(other) == (404, b"from the app")
    assert len(reached) == 4
