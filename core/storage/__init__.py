"""Object storage: one interface, a local-directory store and an S3 store (MinIO or any S3).

Errors::

    TemporaryError (core.errors: worth retrying)
    └── StorageError            the store failed (I/O, network, S3 error); the message names the key
        ├── ObjectNotFound      no object under that key
        └── RangeNotSatisfiable the requested byte range starts past the end of the object

Invalid keys and malformed storage URLs raise ValueError: they are programming or configuration
errors, not storage failures (`get_store` reports a malformed YUANJIAO_STORAGE_URL as a
ConfigurationError).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

from core.errors import ConfigurationError
from core.i18n import N_
from core.settings import get_settings
from core.storage.base import (
    CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    RangeNotSatisfiable,
    StorageError,
    guess_content_type,
    validate_key,
    validate_prefix,
)
from core.storage.local import LocalStore
from core.storage.s3 import S3Config, S3Store, parse_s3_url


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
    """The process-wide store named by YUANJIAO_STORAGE_URL, opened once (a FastAPI dependency);
    a malformed URL is a ConfigurationError for the operator."""
    try:
        return open_store(get_settings().storage_url)
    except ValueError as exc:
        raise ConfigurationError(
            N_("YUANJIAO_STORAGE_URL is malformed: %(reason)s"), reason=str(exc)
        ) from exc


__all__ = [
    "CHUNK_SIZE",
    "LocalStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "RangeNotSatisfiable",
    "S3Config",
    "S3Store",
    "StorageError",
    "get_store",
    "guess_content_type",
    "local_root",
    "open_store",
    "parse_s3_url",
    "validate_key",
    "validate_prefix",
]
