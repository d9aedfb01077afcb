"""Contract tests for the object stores: the same behaviour from the local directory and from S3."""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import shutil
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import PlatformError
from core.storage import (
    CHUNK_SIZE,
    LocalStore,
    ObjectNotFound,
    ObjectStore,
    RangeNotSatisfiable,
    S3Store,
    StorageError,
    guess_content_type,
    open_store,
    parse_s3_url,
    validate_key,
)
from tests.s3 import S3Server, free_port, unique_bucket

pytestmark = pytest.mark.engine_neutral

MINUTES = timedelta(minutes=5)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """Each contract test runs once against a local directory and once against a fresh bucket."""
    if request.param == "local":
        return open_store(f"file://{tmp_path / 'objects'}")
    return open_store(request.getfixturevalue("s3_bucket_url"))


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    """A local store for behaviour only the directory backend has (files, atomic renames)."""
    return LocalStore(tmp_path / "objects")


def sigv4_signature_valid(url: str, *, access_key: str, secret_key: str) -> bool:
    """Check a presigned GET URL's AWS SigV4 signature independently of the minio SDK.

    moto does not verify signatures, so this is what proves the URL was signed for its own host
    with the percent-decoded secret (MinIO would reject it otherwise).
    """
    parts = urlsplit(url)
    params = dict(pair.split("=", 1) for pair in parts.query.split("&"))
    signature = params.pop("X-Amz-Signature")
    credential = unquote(params["X-Amz-Credential"])
    key_id, _, scope = credential.partition("/")
    canonical_query = "&".join(f"{name}={value}" for name, value in sorted(params.items()))
    canonical_request = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope, digest])
    signing_key = f"AWS4{secret_key}".encode()
    for part in scope.split("/"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return key_id == access_key and hmac.compare_digest(expected, signature)


# --- round trips -------------------------------------------------------------------------------


CONTENT_TYPES = {
    "lessons/12/hls/master.m3u8": "application/vnd.apple.mpegurl",
    "lessons/12/hls/720p/seg_00001.m4s": "video/iso.segment",
    "lessons/12/hls/720p/init.mp4": "video/mp4",
    "lessons/12/poster.jpg": "image/jpeg",
    "lessons/12/attachments/讲义 第1课.pdf": "application/pdf",
    "lessons/12/source/raw.unknownext": "application/octet-stream",
}


def test_bytes_round_trip_with_guessed_content_types(store: ObjectStore) -> None:
    for index, (key, content_type) in enumerate(CONTENT_TYPES.items()):
        data = f"object {index}".encode() * (index + 1)
        store.put_bytes(key, data)
        assert store.get_bytes(key) == data
        info = store.stat(key)
        assert (info.key, info.size, info.content_type) == (key, len(data), content_type)
        assert store.exists(key)


def test_explicit_content_type_wins_and_overwrite_replaces(store: ObjectStore) -> None:
    key = "lessons/5/attachments/notes"
    store.put_bytes(key, b"first", content_type="text/plain; charset=utf-8")
    assert store.stat(key).content_type == "text/plain; charset=utf-8"
    first = store.stat(key)

    store.put_bytes(key, b"second")
    assert store.get_bytes(key) == b"second"
    second = store.stat(key)
    assert second.content_type == "application/octet-stream"
    assert second.etag and second.etag != first.etag

    store.put_bytes(key, b"third!")  # same size as before, new content: still a new etag
    assert store.stat(key).etag != second.etag


def test_empty_object(store: ObjectStore) -> None:
    store.put_bytes("lessons/1/empty.txt", b"")
    assert store.get_bytes("lessons/1/empty.txt") == b""
    assert store.stat("lessons/1/empty.txt").size == 0
    assert b"".join(store.open_range("lessons/1/empty.txt", 0, None)) == b""


def test_large_file_round_trip_uses_multipart(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(6 * 1024 * 1024 + 1234)  # above the SDK's 5 MiB part size
    source = tmp_path / "source.mp4"
    source.write_bytes(data)
    key = "lessons/7/source/lecture.mp4"

    store.put_file(key, source)

    info = store.stat(key)
    assert info.size == len(data)
    assert info.content_type == "video/mp4"
    if isinstance(store, S3Store):
        assert info.etag.endswith("-2")  # S3's etag for a two-part multipart upload
    target = tmp_path / "copy" / "lecture.mp4"
    target.parent.mkdir()
    target.write_bytes(b"stale content to be replaced")
    store.download(key, target)
    assert target.read_bytes() == data
    assert sorted(p.name for p in target.parent.iterdir()) == ["lecture.mp4"]
    assert store.get_bytes(key) == data


def test_put_file_respects_explicit_content_type(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "playlist"
    source.write_text("#EXTM3U\n")
    store.put_file("live/3/hls/index", source, content_type="application/vnd.apple.mpegurl")
    assert store.stat("live/3/hls/index").content_type == "application/vnd.apple.mpegurl"
    assert store.get_bytes("live/3/hls/index") == b"#EXTM3U\n"


def test_stat_reports_recent_modification_time(store: ObjectStore) -> None:
    store.put_bytes("lessons/2/poster.jpg", b"\xff\xd8\xff")
    modified = store.stat("lessons/2/poster.jpg").modified
    assert modified.tzinfo is not None
    assert abs(datetime.now(UTC) - modified) < timedelta(minutes=5)


def test_unicode_and_space_keys_round_trip(store: ObjectStore) -> None:
    key = "lessons/9/attachments/第 2 课+附录 (final).pdf"
    store.put_bytes(key, b"%PDF-1.7")
    assert store.get_bytes(key) == b"%PDF-1.7"
    assert list(store.list("lessons/9/")) == [key]


# --- byte ranges -------------------------------------------------------------------------------


RANGE_DATA = bytes(range(256)) * ((3 * CHUNK_SIZE + 123) // 256 + 1)
LAST = len(RANGE_DATA) - 1


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),
        (100, None),
        (0, 0),
        (LAST, LAST),
        (LAST, None),
        (CHUNK_SIZE - 10, CHUNK_SIZE + 10),
        (CHUNK_SIZE, 2 * CHUNK_SIZE - 1),
        (5, CHUNK_SIZE * 3),
        (LAST - 3, LAST + 1000),  # an end past the object is clamped, as HTTP does
    ],
)
def test_open_range_slices(store: ObjectStore, start: int, end: int | None) -> None:
    store.put_bytes("lessons/4/hls/720p/seg_00001.m4s", RANGE_DATA)
    chunks = list(store.open_range("lessons/4/hls/720p/seg_00001.m4s", start, end))
    expected = RANGE_DATA[start:] if end is None else RANGE_DATA[start : end + 1]
    assert b"".join(chunks) == expected
    assert all(0 < len(chunk) <= CHUNK_SIZE for chunk in chunks)
    if len(expected) > 2 * CHUNK_SIZE:
        assert len(chunks) >= 3  # streamed in pieces, not read whole


def test_open_range_errors(store: ObjectStore) -> None:
    store.put_bytes("lessons/4/seg.m4s", b"0123456789")
    with pytest.raises(RangeNotSatisfiable):
        store.open_range("lessons/4/seg.m4s", 10, None)
    with pytest.raises(RangeNotSatisfiable):
        store.open_range("lessons/4/seg.m4s", 50, 60)
    with pytest.raises(ValueError):
        store.open_range("lessons/4/seg.m4s", -1, None)
    with pytest.raises(ValueError):
        store.open_range("lessons/4/seg.m4s", 5, 4)
    with pytest.raises(ObjectNotFound):  # raised by the call itself, before any iteration
        store.open_range("lessons/4/missing.m4s", 0, None)


# --- listing and deleting ----------------------------------------------------------------------


LISTED = [
    "lessons/1/hls/720p/seg_00001.m4s",
    "lessons/1/hls/master.m3u8",
    "lessons/1/poster.jpg",
    "lessons/1-draft/poster.jpg",
    "lessons/10/hls/master.m3u8",
    "lessons/2/poster.jpg",
    "live/3/hls/index.m3u8",
]


def test_list_is_sorted_recursive_and_prefix_bounded(store: ObjectStore) -> None:
    for key in reversed(LISTED):
        store.put_bytes(key, key.encode(), content_type="application/x-test")
    assert list(store.list("")) == sorted(LISTED)
    assert list(store.list("lessons/1/")) == [
        "lessons/1/hls/720p/seg_00001.m4s",
        "lessons/1/hls/master.m3u8",
        "lessons/1/poster.jpg",
    ]
    assert list(store.list("lessons/1")) == sorted(k for k in LISTED if k.startswith("lessons/1"))
    assert list(store.list("lessons/1/hls/m")) == ["lessons/1/hls/master.m3u8"]
    assert list(store.list("nothing/here/")) == []
    with pytest.raises(ValueError):
        store.list("../")


def test_delete_and_delete_prefix(store: ObjectStore) -> None:
    for key in LISTED:
        store.put_bytes(key, b"x")
    store.delete("lessons/2/poster.jpg")
    assert not store.exists("lessons/2/poster.jpg")
    store.delete("lessons/2/poster.jpg")  # missing is fine
    store.delete("never/existed.txt")

    assert store.delete_prefix("lessons/1/") == 3
    assert list(store.list("lessons/")) == [
        "lessons/1-draft/poster.jpg",
        "lessons/10/hls/master.m3u8",
    ]
    assert store.delete_prefix("lessons/1/") == 0
    assert store.delete_prefix("lessons/") == 2
    assert list(store.list("")) == ["live/3/hls/index.m3u8"]
    with pytest.raises(ValueError):
        store.delete_prefix("")


def test_missing_objects_raise_object_not_found(store: ObjectStore, tmp_path: Path) -> None:
    key = "lessons/404/hls/master.m3u8"
    for call in (store.get_bytes, store.stat):
        with pytest.raises(ObjectNotFound) as raised:
            call(key)
        assert raised.value.key == key
        assert isinstance(raised.value, StorageError)
        assert isinstance(raised.value, PlatformError)
    target = tmp_path / "download.m3u8"
    with pytest.raises(ObjectNotFound):
        store.download(key, target)
    assert list(tmp_path.glob("*download*")) == []
    assert store.exists(key) is False


# --- keys --------------------------------------------------------------------------------------


BAD_KEYS = [
    "",
    "/lessons/1/poster.jpg",
    "lessons/../../etc/passwd",
    "..",
    "lessons/./poster.jpg",
    "lessons//poster.jpg",
    "lessons/1/",
    "lessons\\1\\poster.jpg",
    "lessons/1/poster\x00.jpg",
    "lessons/1/.~ct.poster.jpg",
    "a" * 1025,
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected_by_every_operation(
    store: ObjectStore, key: str, tmp_path: Path
) -> None:
    source = tmp_path / "file.bin"
    source.write_bytes(b"x")
    calls: list[Callable[[], object]] = [
        lambda: store.put_bytes(key, b"x"),
        lambda: store.put_file(key, source),
        lambda: store.get_bytes(key),
        lambda: store.download(key, tmp_path / "out"),
        lambda: store.stat(key),
        lambda: store.exists(key),
        lambda: store.open_range(key, 0, None),
        lambda: store.delete(key),
        lambda: store.presigned_url(key, expires=MINUTES),
        lambda: store.local_path(key),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()
    assert not (tmp_path / "etc").exists()


segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", "..") and not s.startswith(".~"))


@given(st.lists(segment, min_size=1, max_size=5))
def test_keys_built_from_plain_segments_are_valid(segments: list[str]) -> None:
    key = "/".join(segments)
    assert validate_key(key) == key


@given(st.lists(segment, min_size=0, max_size=3), st.sampled_from(["..", ".", "", "a\\b"]))
def test_a_bad_segment_anywhere_is_rejected(segments: list[str], bad: str) -> None:
    for position in range(len(segments) + 1):
        key = "/".join([*segments[:position], bad, *segments[position:]])
        with pytest.raises(ValueError):
            validate_key(key)


@given(st.text(max_size=40))
def test_any_accepted_key_stays_inside_the_local_root(key: str) -> None:
    root = "/srv/yuanjiao/objects"
    try:
        validate_key(key)
    except ValueError:
        return
    joined = os.path.join(root, *key.split("/"))
    assert os.path.normpath(joined) == joined  # nothing for the filesystem to reinterpret
    assert joined.startswith(root + os.sep)


def test_content_type_guessing() -> None:
    for key, content_type in CONTENT_TYPES.items():
        assert guess_content_type(key) == content_type
    assert guess_content_type("lessons/1/SEG_00002.M4S") == "video/iso.segment"


# --- presigned URLs and local paths -------------------------------------------------------------


def test_presigned_url_downloads_or_is_none(store: ObjectStore) -> None:
    key = "lessons/8/hls/720p/seg_00003.m4s"
    store.put_bytes(key, RANGE_DATA[:5000])
    url = store.presigned_url(key, expires=MINUTES)
    if isinstance(store, LocalStore):
        assert url is None
        path = store.local_path(key)
        assert path.read_bytes() == RANGE_DATA[:5000]
        with pytest.raises(ObjectNotFound):
            store.local_path("lessons/8/missing.m4s")
    else:
        assert url is not None
        assert store.local_path(key) is None
        response = httpx.get(url)
        assert response.status_code == 200
        assert response.content == RANGE_DATA[:5000]
        ranged = httpx.get(url, headers={"Range": "bytes=10-19"})
        assert ranged.status_code == 206
        assert ranged.content == RANGE_DATA[10:20]


@pytest.mark.s3
def test_presigned_url_is_signed_for_the_public_endpoint(s3_server: S3Server) -> None:
    public = f"http://localhost:{s3_server.port}"
    store = open_store(s3_server.url(unique_bucket(), public_endpoint=public))
    key = "lessons/3/attachments/讲义.pdf"
    store.put_bytes(key, b"%PDF-1.4 public")

    url = store.presigned_url(key, expires=MINUTES)

    assert url is not None
    assert url.startswith(f"{public}/")
    credentials = {"access_key": s3_server.access_key, "secret_key": s3_server.secret_key}
    assert sigv4_signature_valid(url, **credentials)
    internal = url.replace(f"//localhost:{s3_server.port}/", f"//127.0.0.1:{s3_server.port}/")
    assert not sigv4_signature_valid(internal, **credentials)  # the host is part of the signature
    assert not sigv4_signature_valid(url, access_key=s3_server.access_key, secret_key="wrong")
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"%PDF-1.4 public"


@pytest.mark.s3
def test_presigning_needs_no_connection_to_the_public_endpoint(s3_server: S3Server) -> None:
    store = open_store(s3_server.url(unique_bucket(), public_endpoint="https://media.example.org"))
    url = store.presigned_url("lessons/1/hls/master.m3u8", expires=timedelta(hours=1))
    assert url is not None
    assert url.startswith("https://media.example.org/")
    assert "X-Amz-Expires=3600" in url
    assert sigv4_signature_valid(
        url, access_key=s3_server.access_key, secret_key=s3_server.secret_key
    )


@pytest.mark.s3
def test_default_presigned_url_is_signed_for_the_storage_endpoint(s3_server: S3Server) -> None:
    store = open_store(s3_server.url(unique_bucket()))
    url = store.presigned_url("lessons/1/poster.jpg", expires=MINUTES)
    assert url is not None
    assert url.startswith(f"http://{s3_server.endpoint}/")
    assert sigv4_signature_valid(
        url, access_key=s3_server.access_key, secret_key=s3_server.secret_key
    )


# --- health and failures ------------------------------------------------------------------------


def test_check_passes_on_a_working_store(store: ObjectStore) -> None:
    store.check()


@pytest.mark.s3
def test_s3_check_fails_when_the_bucket_is_missing(s3_server: S3Server) -> None:
    store = open_store(s3_server.url(unique_bucket(), create_bucket="false"))
    with pytest.raises(StorageError, match="does not exist"):
        store.check()


def test_s3_network_failure_is_a_storage_error_naming_the_key() -> None:
    url = f"s3://key:secret@127.0.0.1:{free_port()}/no-server?create_bucket=false"
    store = open_store(url)
    with pytest.raises(StorageError) as raised:
        store.get_bytes("lessons/1/poster.jpg")
    assert not isinstance(raised.value, ObjectNotFound)
    assert "lessons/1/poster.jpg" in str(raised.value)
    with pytest.raises(StorageError):
        store.check()


def test_local_check_fails_when_the_directory_is_gone(local_store: LocalStore) -> None:
    shutil.rmtree(local_store.root)
    with pytest.raises(StorageError):
        local_store.check()


# --- local store: atomic writes and the file layout ----------------------------------------------


def _stray_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and path.name.endswith(".part")]


def test_local_writes_leave_no_temporary_files(local_store: LocalStore, tmp_path: Path) -> None:
    source = tmp_path / "seg.m4s"
    source.write_bytes(b"segment")
    local_store.put_file("lessons/1/hls/360p/seg_00001.m4s", source)
    local_store.put_bytes("lessons/1/hls/master.m3u8", b"#EXTM3U", content_type="text/plain")
    local_store.download("lessons/1/hls/master.m3u8", tmp_path / "master.m3u8")
    assert _stray_files(local_store.root) == []
    assert _stray_files(tmp_path) == []
    assert list(local_store.list("")) == [
        "lessons/1/hls/360p/seg_00001.m4s",
        "lessons/1/hls/master.m3u8",
    ]


def test_failing_put_keeps_the_old_object_and_leaves_nothing_partial(
    local_store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_store.put_bytes("lessons/1/hls/master.m3u8", b"old playlist")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StorageError, match=r"lessons/1/hls/master\.m3u8"):
        local_store.put_bytes("lessons/1/hls/master.m3u8", b"new playlist, never complete")
    with pytest.raises(StorageError):
        local_store.put_bytes("lessons/2/hls/master.m3u8", b"brand new")
    monkeypatch.undo()

    assert local_store.get_bytes("lessons/1/hls/master.m3u8") == b"old playlist"
    assert not local_store.exists("lessons/2/hls/master.m3u8")
    assert _stray_files(local_store.root) == []


def test_readers_see_whole_objects_during_rewrites(local_store: LocalStore) -> None:
    versions = [b"A" * 300_000, b"B" * 700_000]
    key = "live/1/hls/index.m3u8"
    local_store.put_bytes(key, versions[0])
    stop = threading.Event()

    def rewrite() -> None:
        index = 0
        while not stop.is_set():
            index += 1
            local_store.put_bytes(key, versions[index % 2])

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        seen = {local_store.get_bytes(key) for _ in range(200)}
        seen |= {b"".join(local_store.open_range(key, 0, None)) for _ in range(50)}
    finally:
        stop.set()
        writer.join()
    assert seen <= set(versions)


def test_local_key_cannot_be_both_object_and_prefix(local_store: LocalStore) -> None:
    local_store.put_bytes("lessons/1/poster.jpg", b"x")
    with pytest.raises(StorageError):
        local_store.put_bytes("lessons/1/poster.jpg/thumb.jpg", b"y")
    with pytest.raises(StorageError):
        local_store.put_bytes("lessons/1", b"z")
    assert _stray_files(local_store.root) == []
    with pytest.raises(ObjectNotFound):
        local_store.get_bytes("lessons/1")


def test_local_delete_prunes_empty_directories(local_store: LocalStore) -> None:
    local_store.put_bytes("lessons/1/hls/720p/seg_00001.m4s", b"x", content_type="video/mp4")
    local_store.put_bytes("lessons/2/poster.jpg", b"x")
    assert local_store.delete_prefix("lessons/1/") == 1
    assert not (local_store.root / "lessons" / "1").exists()
    assert (local_store.root / "lessons" / "2").is_dir()
    assert local_store.root.is_dir()


# --- open_store URLs ----------------------------------------------------------------------------


def test_parse_s3_url_decodes_credentials_and_options() -> None:
    config = parse_s3_url(
        "s3://AKIA%2Bkey:se%2Fcr%2Bet%40%3A%25@minio.internal:9000/course-media"
        "?secure=true&region=cn-north-1&public_endpoint=https%3A%2F%2Fmedia.example.org%2F"
        "&create_bucket=false"
    )
    assert config.endpoint == "minio.internal:9000"
    assert config.bucket == "course-media"
    assert config.access_key == "AKIA+key"
    assert config.secret_key == "se/cr+et@:%"
    assert config.secure is True
    assert config.region == "cn-north-1"
    assert config.public_endpoint == "https://media.example.org"
    assert config.create_bucket is False
    assert "se/cr" not in repr(config)


def test_parse_s3_url_defaults() -> None:
    config = parse_s3_url("s3://minioadmin:minioadmin@minio:9000/yuanjiao")
    assert (config.endpoint, config.bucket) == ("minio:9000", "yuanjiao")
    assert config.secure is False
    assert config.region == "us-east-1"
    assert config.public_endpoint is None
    assert config.create_bucket is True
    assert config.endpoint_url == "http://minio:9000"


@pytest.mark.parametrize(
    "url",
    [
        "s3://key:topsecret@minio:9000/",
        "s3://key:topsecret@minio:9000/Not_A_Bucket",
        "s3://key:topsecret@minio:9000/bucket/extra",
        "s3://key:topsecret@minio:9000/bucket?colour=blue",
        "s3://key:topsecret@minio:9000/bucket?secure=maybe",
        "s3://key:topsecret@minio:9000/bucket?public_endpoint=ftp://media.example.org",
        "s3://key:topsecret@minio:9000/bucket?public_endpoint=https://cdn.example.org/media",
        "s3://key:topsecret@minio:notaport/bucket",
        "s3://key@minio:9000/bucket",
        "ftp://key:topsecret@minio/bucket",
        "redis://localhost:6379/0",
        "file://",
        "file:///srv/objects?mode=fast",
        "/srv/objects",
    ],
)
def test_bad_storage_urls_are_rejected_without_leaking_secrets(url: str) -> None:
    with pytest.raises(ValueError) as raised:
        open_store(url)
    assert "topsecret" not in str(raised.value)


def test_relative_file_url_is_resolved_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("file://var/objects")
    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / "var" / "objects"
    assert store.root.is_dir()
    monkeypatch.chdir("/")
    store.put_bytes("lessons/1/poster.jpg", b"jpeg")
    assert (tmp_path / "var" / "objects" / "lessons" / "1" / "poster.jpg").read_bytes() == b"jpeg"


def test_absolute_file_url(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/media%20store")
    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / "media store"
    assert store.root.is_dir()


@pytest.mark.s3
def test_s3_url_opens_a_store_and_creates_its_bucket(s3_server: S3Server) -> None:
    bucket = unique_bucket()
    store = open_store(s3_server.url(bucket))
    assert isinstance(store, S3Store)
    assert store.bucket == bucket
    store.check()
    reopened = open_store(s3_server.url(bucket))  # an existing bucket is fine
    reopened.put_bytes("a.txt", b"a")
    assert store.get_bytes("a.txt") == b"a"
