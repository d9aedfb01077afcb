"""Object storage: one interface, a local-directory store and an S3 store (MinIO or any S3).

Errors::

    TemporaryError (core.errors: worth retrying)
    └── StorageError            the store failed (I/O, network, S3 error); the message names the key
        ├── ObjectNotFound      no object under that key
        └── RangeNotSatisfiable the requested byte range starts past the end of the object

Invalid keys and malformed storage URLs raise ValueError: they are programming or configuration
errors, not storage failures.
"""

from __future__ import annotations

import builtins
import mimetypes
import os
import re
import secrets
import shutil
import stat as stat_mode
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, unquote, urlsplit

import certifi
import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from core.errors import TemporaryError
from core.settings import get_settings

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


class LocalStore(ObjectStore):
    """Objects as files under one directory: the embedded default and the sites' offline copy.

    Writes go to a temporary file in the target directory and are renamed into place, so a
    reader sees the old object or the new one, never half of one. An explicit content type that
    differs from the extension's is kept in a hidden sidecar file. Unlike S3, a key cannot be both
    an object and a prefix of another key ('a' and 'a/b'): that put raises StorageError.
    """

    def __init__(self, root: Path, *, chunk_size: int = CHUNK_SIZE) -> None:
        self.root = Path(root).absolute()
        self.chunk_size = chunk_size
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the object directory {self.root}: {exc}") from exc

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    @staticmethod
    def _sidecar(path: Path) -> Path:
        return path.with_name(f"{_TEMP_PREFIX}ct.{path.name}")

    def _existing(self, key: str) -> tuple[Path, os.stat_result]:
        path = self._path(key)
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"cannot stat {key}: {exc}") from exc
        if not stat_mode.S_ISREG(info.st_mode):
            raise ObjectNotFound(key)
        return path, info

    def _atomic_write(self, key: str, target: Path, fill: Callable[[IO[bytes]], object]) -> None:
        """Write through `fill` into a temp file beside `target`, fsync, then rename over it."""
        for attempt in range(3):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                temp = target.parent / f"{_TEMP_PREFIX}{secrets.token_hex(8)}.part"
                handle = open(temp, "xb")  # noqa: SIM115 - closed below, unlinked on failure
                break
            except FileNotFoundError:  # a concurrent delete pruned the directory; try again
                if attempt == 2:
                    raise StorageError(f"cannot create the directory for {key}") from None
            except OSError as exc:
                raise StorageError(f"cannot write {key}: {exc}") from exc
        try:
            with handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException as exc:
            temp.unlink(missing_ok=True)
            if isinstance(exc, IsADirectoryError):
                raise StorageError(f"cannot write {key}: it is a prefix of other keys") from exc
            if isinstance(exc, OSError):
                raise StorageError(f"cannot write {key}: {exc}") from exc
            raise

    def _put(self, key: str, content_type: str | None, fill: Callable[[IO[bytes]], object]) -> None:
        target = self._path(key)
        sidecar = self._sidecar(target)
        if content_type is not None and content_type != guess_content_type(key):
            payload = content_type.encode("utf-8")
            self._atomic_write(key, sidecar, lambda handle: handle.write(payload))
        else:
            try:
                sidecar.unlink(missing_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot write {key}: {exc}") from exc
        self._atomic_write(key, target, fill)

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        """Copy a file into the store (temp file + rename, so readers never see half of it)."""
        validate_key(key)
        with open(path, "rb") as source:
            self._put(key, content_type, lambda out: shutil.copyfileobj(source, out, _COPY_BUFFER))

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Write bytes into the store atomically."""
        self._put(key, content_type, lambda out: out.write(data))

    def get_bytes(self, key: str) -> bytes:
        """Read a whole object from its file."""
        path, _ = self._existing(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc}") from exc

    def download(self, key: str, path: Path) -> None:
        """Copy an object to `path` through a temp file beside it."""
        source, _ = self._existing(key)
        path = Path(path)
        temp = path.with_name(f"{_TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}.part")
        try:
            shutil.copyfile(source, temp)
            os.replace(temp, path)
        except FileNotFoundError as exc:
            temp.unlink(missing_ok=True)
            if not source.exists():
                raise ObjectNotFound(key) from exc
            raise
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def stat(self, key: str) -> ObjectInfo:
        """Size, a change tag (inode, mtime, size: a rewrite is a new inode) and content type."""
        path, info = self._existing(key)
        try:
            content_type = self._sidecar(path).read_text("utf-8")
        except FileNotFoundError:
            content_type = guess_content_type(key)
        return ObjectInfo(
            key=key,
            size=info.st_size,
            etag=f"{info.st_ino:x}-{info.st_mtime_ns:x}-{info.st_size:x}",
            content_type=content_type,
            modified=datetime.fromtimestamp(info.st_mtime, UTC),
        )

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Open the file now and stream the slice in chunks."""
        _check_range(start, end)
        path, _ = self._existing(key)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - the generator below closes it
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        size = os.fstat(handle.fileno()).st_size
        if start > 0 and start >= size:
            handle.close()
            raise RangeNotSatisfiable(key, start)
        stop = size if end is None else min(end + 1, size)
        return self._read_range(handle, start, stop)

    def _read_range(self, handle: IO[bytes], start: int, stop: int) -> Iterator[bytes]:
        with handle:
            handle.seek(start)
            remaining = stop - start
            while remaining > 0:
                chunk = handle.read(min(self.chunk_size, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    def list(self, prefix: str = "") -> Iterator[str]:
        """Walk the directory holding the prefix and yield matching keys in sorted order."""
        validate_prefix(prefix)
        directory = prefix.rpartition("/")[0]
        base = self.root.joinpath(*directory.split("/")) if directory else self.root
        keys: builtins.list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [name for name in dirnames if not name.startswith(_TEMP_PREFIX)]
            relative = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            head = "" if relative == "." else relative + "/"
            for name in filenames:
                key = head + name
                if not name.startswith(_TEMP_PREFIX) and key.startswith(prefix):
                    keys.append(key)
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        """Remove the file and its sidecar, then prune directories left empty."""
        path = self._path(key)
        try:
            if path.is_dir():
                return
            path.unlink(missing_ok=True)
            self._sidecar(path).unlink(missing_ok=True)
        except NotADirectoryError:
            return
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc
        self._prune(path.parent)

    def _prune(self, directory: Path) -> None:
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under the prefix; the empty prefix is refused as too dangerous."""
        if not prefix:
            raise ValueError("refusing to delete every object: give a non-empty prefix")
        count = 0
        for key in self.list(prefix):
            self.delete(key)
            count += 1
        return count

    def presigned_url(self, key: str, *, expires: timedelta) -> str | None:
        """None: the app serves local objects itself (with Range support)."""
        validate_key(key)
        return None

    def local_path(self, key: str) -> Path:
        """The object's file, for sendfile/Range serving; raises ObjectNotFound if missing."""
        path, _ = self._existing(key)
        return path

    def check(self) -> None:
        """The root must be a writable directory."""
        if not self.root.is_dir():
            raise StorageError(f"object directory {self.root} does not exist")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"object directory {self.root} is not writable")


@dataclass(frozen=True)
class S3Config:
    """Connection settings parsed from an s3:// storage URL."""

    endpoint: str
    bucket: str
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    secure: bool = False
    region: str = "us-east-1"
    public_endpoint: str | None = None
    create_bucket: bool = True

    @property
    def endpoint_url(self) -> str:
        """The endpoint the app itself talks to, with its scheme."""
        return ("https://" if self.secure else "http://") + self.endpoint


CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0


def _http_client() -> urllib3.PoolManager:
    """A connection pool with bounded timeouts and retries, so a dead S3 fails in seconds."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        maxsize=32,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


class S3Store(ObjectStore):
    """Objects in one S3 bucket through the minio SDK; browsers fetch them by presigned URL."""

    def __init__(self, config: S3Config, *, chunk_size: int = CHUNK_SIZE) -> None:
        self.config = config
        self.bucket = config.bucket
        self.chunk_size = chunk_size
        self._client = Minio(
            config.endpoint,
            access_key=config.access_key,
            secret_key=config.secret_key,
            secure=config.secure,
            region=config.region,
            http_client=_http_client(),
        )
        self._signer = self._client
        if config.public_endpoint is not None:
            public = urlsplit(config.public_endpoint)
            # Signing needs no request: the region is given, so this client never connects.
            self._signer = Minio(
                public.netloc,
                access_key=config.access_key,
                secret_key=config.secret_key,
                secure=public.scheme == "https",
                region=config.region,
                http_client=_http_client(),
            )
        if config.create_bucket:
            self._ensure_bucket()

    def __repr__(self) -> str:
        return f"S3Store({self.config.endpoint_url}/{self.bucket})"

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """Turn minio and urllib3 failures into StorageError naming the key."""
        try:
            yield
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectNotFound(key) from exc
            raise StorageError(f"S3 error on {self!r} for {key}: {exc.code} {exc.message}") from exc
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise StorageError(f"S3 request on {self!r} for {key} failed: {exc}") from exc

    def _ensure_bucket(self) -> None:
        with self._errors(f"bucket {self.bucket}"):
            if self._client.bucket_exists(self.bucket):
                return
            try:
                self._client.make_bucket(self.bucket, location=self.config.region)
            except S3Error as exc:  # another process created it first
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        """Upload a file; the SDK switches to parallel multipart above 5 MiB."""
        validate_key(key)
        if not Path(path).is_file():
            raise FileNotFoundError(f"no such file to upload: {path}")
        with self._errors(key):
            self._client.fput_object(
                self.bucket,
                key,
                str(path),
                content_type=content_type or guess_content_type(key),
            )

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Upload bytes in one request."""
        validate_key(key)
        with self._errors(key):
            self._client.put_object(
                self.bucket,
                key,
                BytesIO(data),
                len(data),
                content_type=content_type or guess_content_type(key),
            )

    def get_bytes(self, key: str) -> bytes:
        """Download a whole object into memory."""
        validate_key(key)
        with self._errors(key):
            response = self._client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def download(self, key: str, path: Path) -> None:
        """Stream an object to a temp file beside `path`, then rename it into place."""
        validate_key(key)
        path = Path(path)
        with self._errors(key):
            response = self._client.get_object(self.bucket, key)
        temp = path.with_name(f"{_TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}.part")
        try:
            with self._errors(key), open(temp, "wb") as out:
                for chunk in response.stream(_COPY_BUFFER):
                    out.write(chunk)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        finally:
            response.close()
            response.release_conn()

    def stat(self, key: str) -> ObjectInfo:
        """HEAD the object."""
        validate_key(key)
        with self._errors(key):
            found = self._client.stat_object(self.bucket, key)
        return ObjectInfo(
            key=key,
            size=found.size or 0,
            etag=found.etag or "",
            content_type=found.content_type or _DEFAULT_CONTENT_TYPE,
            modified=found.last_modified or datetime.now(UTC),
        )

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Send a ranged GET now; the iterator streams the body and releases the connection."""
        validate_key(key)
        _check_range(start, end)
        length = 0 if end is None else end - start + 1
        with self._errors(key):
            try:
                response = self._client.get_object(self.bucket, key, offset=start, length=length)
            except S3Error as exc:
                if exc.code != "InvalidRange":
                    raise
                if start == 0:  # only an empty object rejects a range starting at 0
                    return iter(())
                raise RangeNotSatisfiable(key, start) from exc
        if (start or length) and response.status != 206:
            response.close()
            response.release_conn()
            raise StorageError(f"S3 ignored the byte range for {key} (HTTP {response.status})")
        return self._stream(key, response)

    def _stream(self, key: str, response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
        try:
            with self._errors(key):
                yield from response.stream(self.chunk_size)
        finally:
            response.close()
            response.release_conn()

    def list(self, prefix: str = "") -> Iterator[str]:
        """List recursively; S3 returns keys in UTF-8 byte order, which is sorted order."""
        validate_prefix(prefix)
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[str]:
        with self._errors(prefix or "(all keys)"):
            found = self._client.list_objects(self.bucket, prefix=prefix or None, recursive=True)
            for item in found:
                if item.object_name is not None:
                    yield item.object_name

    def delete(self, key: str) -> None:
        """DELETE the object (S3 does not mind if it is missing)."""
        validate_key(key)
        with self._errors(key):
            self._client.remove_object(self.bucket, key)

    def delete_prefix(self, prefix: str) -> int:
        """Batch-delete every object under the prefix; the empty prefix is refused."""
        if not prefix:
            raise ValueError("refusing to delete every object: give a non-empty prefix")
        keys = builtins.list(self.list(prefix))
        with self._errors(prefix):
            errors = builtins.list(
                self._client.remove_objects(self.bucket, (DeleteObject(key) for key in keys))
            )
        if errors:
            raise StorageError(
                f"could not delete {len(errors)} objects under {prefix}: "
                + ", ".join(f"{error.name} ({error.code})" for error in errors[:5])
            )
        return len(keys)

    def presigned_url(self, key: str, *, expires: timedelta) -> str | None:
        """A GET URL signed for the public endpoint; computed locally, no request is made."""
        validate_key(key)
        with self._errors(key):
            return self._signer.presigned_get_object(self.bucket, key, expires=expires)

    def local_path(self, key: str) -> Path | None:
        """None: S3 objects are not on this machine's disk."""
        validate_key(key)
        return None

    def check(self) -> None:
        """The bucket must exist and answer."""
        with self._errors(f"bucket {self.bucket}"):
            present = self._client.bucket_exists(self.bucket)
        if not present:
            raise StorageError(f"bucket {self.bucket} does not exist on {self.config.endpoint_url}")


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_S3_OPTIONS = ("secure", "region", "public_endpoint", "create_bucket")


def _flag(name: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"storage URL option {name} must be true or false, got {value!r}")


def _public_endpoint(value: str) -> str:
    """Check a public endpoint is scheme://host[:port] and return it without a trailing '/'."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"public_endpoint must look like https://host[:port], got {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"public_endpoint may not have a path or query, got {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


def parse_s3_url(url: str) -> S3Config:
    """Parse s3://ACCESS:SECRET@host:port/bucket?secure=&region=&public_endpoint=&create_bucket=."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ValueError(f"not an s3:// storage URL (scheme {parts.scheme!r})")
    endpoint = parts.netloc.rpartition("@")[2]
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ValueError("s3:// storage URL has an invalid port") from None
    if not parts.hostname:
        raise ValueError("s3:// storage URL needs a host: s3://KEY:SECRET@host:port/bucket")
    bucket = parts.path.strip("/")
    if not _BUCKET_NAME.match(bucket):
        raise ValueError(
            f"s3:// storage URL needs one valid bucket name after the host, got {bucket!r}"
        )
    access_key = unquote(parts.username) if parts.username else None
    secret_key = unquote(parts.password) if parts.password is not None else None
    if (access_key is None) != (secret_key is None):
        raise ValueError("s3:// storage URL needs both the access key and the secret, or neither")
    options: dict[str, str] = {}
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        if name not in _S3_OPTIONS:
            raise ValueError(f"unknown s3:// storage URL option {name!r}; known: {_S3_OPTIONS}")
        if len(values) != 1:
            raise ValueError(f"s3:// storage URL option {name} is given more than once")
        options[name] = values[0]
    public = options.get("public_endpoint")
    return S3Config(
        endpoint=endpoint,
        bucket=bucket,
        access_key=access_key,
        secret_key=secret_key,
        secure=_flag("secure", options.get("secure", "false")),
        region=options.get("region") or "us-east-1",
        public_endpoint=_public_endpoint(public) if public else None,
        create_bucket=_flag("create_bucket", options.get("create_bucket", "true")),
    )


def local_root(url: str) -> Path:
    """The directory of a file:// URL: file:///abs/path, or file://rel/path relative to the CWD."""
    if not url.startswith("file://"):
        raise ValueError("not a file:// storage URL")
    rest = url[len("file://") :]
    if not rest or "?" in rest or "#" in rest:
        raise ValueError(f"file:// storage URL needs a plain directory path, got {url!r}")
    return Path(unquote(rest)).absolute()


def open_store(url: str, *, chunk_size: int = CHUNK_SIZE) -> ObjectStore:
    """Open the store a YUANJIAO_STORAGE_URL names (file:// or s3://)."""
    scheme = url.partition(":")[0].lower()
    if scheme == "file":
        return LocalStore(local_root(url), chunk_size=chunk_size)
    if scheme == "s3":
        return S3Store(parse_s3_url(url), chunk_size=chunk_size)
    raise ValueError(
        f"unsupported storage URL scheme {scheme!r}: use file:///path, file://relative/path "
        "or s3://KEY:SECRET@host:port/bucket"
    )


@lru_cache
def get_store() -> ObjectStore:
    """The process-wide store named by YUANJIAO_STORAGE_URL, opened once (a FastAPI dependency)."""
    return open_store(get_settings().storage_url)
