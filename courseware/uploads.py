"""Browser uploads between their last byte and their lesson: owner, completion, clean-up.

A tus upload is staged as `{upload dir}/{id}` (the bytes) and `{id}.info` (tuspyserver's JSON:
offset, size, the client's metadata). Its owner is a row in `uploads`, written when the upload is
created: the client writes the metadata, so the owner cannot live there. When the last byte
arrives the upload is completed (`finish_upload`): the source is stored and the lesson created by
`courseware.ingest`. If that fails (a crash, a full disk, a read-only store) nothing is lost: the
staged upload stays, the owner's next `GET /api/uploads/{id}` or the hourly sweep completes it,
and only once its lesson exists, or the upload expires, is it removed.
"""

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.orm import Session

from core.api import MAX_ID
from core.db import session_scope, utcnow
from core.errors import InvalidInput, NotFound, TemporaryError
from core.i18n import N_
from core.people.models import User
from core.settings import get_settings
from core.storage import ObjectStore, StorageError
from courseware.ingest import ingest_lesson, lesson_for_upload
from courseware.models import Course, Lesson, Upload
from courseware.service import (
    check_upload_target,
    find_or_create_course,
    get_course,
)

log = logging.getLogger(__name__)

# An unfinished upload can be resumed for this long; then the sweep removes it.
UPLOAD_KEEP = timedelta(days=2)
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


class UploadNotStored(TemporaryError):
    """A finished upload could not be stored yet; it is kept and completing it can be retried."""


def upload_dir() -> Path:
    """Where this web node stages resumable uploads."""
    return get_settings().home / "uploads"


@dataclass(frozen=True)
class StagedUpload:
    """A tus upload in the upload directory, as its `.info` file describes it."""

    upload_id: str
    path: Path
    metadata: dict[str, str]
    size: int | None
    offset: int

    @property
    def complete(self) -> bool:
        """Every byte the client announced has arrived."""
        return self.size is not None and self.offset == self.size


def staged_upload(directory: Path, upload_id: str) -> StagedUpload | None:
    """The staged upload with this id, or None (unknown, malformed id, unreadable info)."""
    if not _UPLOAD_ID.match(upload_id):
        return None
    path = directory / upload_id
    try:
        info = json.loads(path.with_name(f"{upload_id}.info").read_text("utf-8"))
        metadata = {str(k): str(v) for k, v in dict(info.get("metadata") or {}).items()}
        size = None if info.get("size") is None else int(info["size"])
        offset = int(info.get("offset") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if not path.is_file():
        return None
    return StagedUpload(upload_id, path, metadata, size, offset)


def upload_target(
    *, session: Session, user: User, metadata: dict[str, str]
) -> tuple[int | None, int | None]:
    """Read (course_id, org_id) from an upload's metadata and check the user may upload there."""
    if not metadata.get("filename", "").strip():
        raise InvalidInput(N_("The upload has no file name."))
    try:
        course_id = int(metadata["course_id"]) if metadata.get("course_id") else None
        org_id = int(metadata["org_id"]) if metadata.get("org_id") else None
    except ValueError as exc:
        raise InvalidInput(N_("The upload's details are malformed.")) from exc
    if any(value is not None and not 1 <= value <= MAX_ID for value in (course_id, org_id)):
        raise InvalidInput(N_("The upload's details are malformed."))
    check_upload_target(
        session=session,
        user=user,
        course_id=course_id,
        course_title=metadata.get("course_title", ""),
        org_id=org_id,
        title=metadata.get("title", ""),
        filename=metadata["filename"],
    )
    return course_id, org_id


def _upload_course(session: Session, user: User, metadata: dict[str, str]) -> Course:
    """The course an upload goes into: the one it names, or one found or made by title."""
    course_id, org_id = upload_target(session=session, user=user, metadata=metadata)
    if course_id is not None:
        return get_course(session=session, user=user, course_id=course_id)
    assert org_id is not None
    return find_or_create_course(
        session=session, user=user, title=metadata["course_title"], org_id=org_id
    )


def record_upload(*, session: Session, upload_id: str, owner: User) -> None:
    """Remember who started an upload (when it is created, before any byte arrives)."""
    session.add(Upload(id=upload_id, owner_id=owner.id))
    session.flush()


def upload_owner(*, session: Session, upload_id: str) -> int | None:
    """The id of the user who started the upload, if it is known."""
    upload = session.get(Upload, upload_id)
    return upload.owner_id if upload is not None else None


def finish_upload(*, directory: Path, store: ObjectStore, upload_id: str, user_id: int) -> Lesson:
    """Complete a finished upload for its owner and return its lesson; safe to call again (a
    retry, the sweep): the lesson is made once. The staged files go once the lesson exists."""
    lesson = lesson_for_upload(upload_id)
    if lesson is None:
        with session_scope() as session:
            owner = upload_owner(session=session, upload_id=upload_id)
        staged = staged_upload(directory, upload_id)
        if owner != user_id or staged is None or not staged.complete:
            raise NotFound(N_("No finished upload has this id."))
        metadata = staged.metadata
        try:
            lesson = ingest_lesson(
                store=store,
                user_id=user_id,
                course=lambda session, user: _upload_course(session, user, metadata),
                title=metadata.get("title", ""),
                source=staged.path,
                filename=metadata.get("filename", ""),
                upload_id=upload_id,
            )
        except (StorageError, OSError) as exc:
            log.warning("upload %s is kept; storing it failed: %s", upload_id, exc)
            raise UploadNotStored(
                N_("The file arrived whole but could not be stored yet; try again shortly.")
            ) from exc
    elif lesson.created_by != user_id or lesson.deleted_at is not None:
        raise NotFound(N_("No finished upload has this id."))
    discard_staged(directory, upload_id)
    return lesson


def discard_staged(directory: Path, upload_id: str) -> None:
    """Remove an upload's staged bytes, its info and its lock file."""
    for path in (
        directory / upload_id,
        directory / f"{upload_id}.info",
        directory / ".locks" / f"{upload_id}.lock",
    ):
        path.unlink(missing_ok=True)


def sweep_uploads(*, directory: Path, store: ObjectStore, max_age: timedelta) -> int:
    """Tidy the upload directory; returns how many staged uploads went. A finished upload with
    no lesson yet is completed for its owner; one whose lesson exists is removed; one nobody
    touched for `max_age` (resumable until then) has expired and is removed."""
    if not directory.is_dir():
        return 0
    cutoff = time.time() - max_age.total_seconds()
    removed = 0
    for path in directory.iterdir():
        upload_id = path.name
        if not _UPLOAD_ID.match(upload_id) or not path.is_file():
            continue
        staged = staged_upload(directory, upload_id)
        if staged is not None and staged.complete:
            _complete_quietly(directory, store, upload_id)
        try:
            done = not path.exists() or _last_touched(path) < cutoff
        except FileNotFoundError:  # completed meanwhile by its owner's request
            done = True
        if done:
            discard_staged(directory, upload_id)
            removed += 1
    with session_scope() as session:
        session.execute(delete(Upload).where(Upload.created_at < utcnow() - max_age))
    return removed


def _complete_quietly(directory: Path, store: ObjectStore, upload_id: str) -> None:
    """Complete a finished upload for its owner; a failure is logged and tried next sweep."""
    lesson = lesson_for_upload(upload_id)
    if lesson is not None:
        discard_staged(directory, upload_id)
        return
    with session_scope() as session:
        owner = upload_owner(session=session, upload_id=upload_id)
    if owner is None:
        return
    try:
        finish_upload(directory=directory, store=store, upload_id=upload_id, user_id=owner)
    except Exception:
        log.warning("upload %s could not be completed yet", upload_id, exc_info=True)


def _last_touched(path: Path) -> float:
    """When the upload's bytes or its info last changed."""
    times = [path.stat().st_mtime]
    info = path.with_name(f"{path.name}.info")
    if info.exists():
        times.append(info.stat().st_mtime)
    return max(times)
