"""Objects as files under one directory: the embedded default."""

from __future__ import annotations

import builtins
import os
import secrets
import shutil
import stat as stat_mode
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from core.storage.base import (
    _COPY_BUFFER,
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
