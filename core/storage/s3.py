"""Objects in MinIO or any S3 service, through the minio SDK."""

from __future__ import annotations

import builtins
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import certifi
import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from core.storage.base import (
    _BUCKET_NAME,
    _COPY_BUFFER,
    _DEFAULT_CONTENT_TYPE,
    _TEMP_PREFIX,
    CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    RangeNotSatisfiable,
    StorageError,
    _check_range,
    guess_content_type,
    validate_key,
    validate_prefix,
)


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
