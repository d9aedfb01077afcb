"""Media delivery rules: signed links, byte ranges, and the hot-object cache."""

from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import NotFound
from core.storage import LocalStore
from courseware.delivery import HotObjects, check_signature, direct_url, parse_range


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
