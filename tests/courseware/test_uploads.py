"""The upload directory's sweep: finished uploads completed, done or expired ones removed."""

import json
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

import courseware.tasks  # noqa: F401  (registers the transcode job type, as the web app does)
from core.db import session_scope, utcnow
from core.people.models import Role
from core.storage import get_store
from courseware.models import Lesson, Upload
from courseware.uploads import record_upload, sweep_uploads
from tests.factories import make_tree, make_user
from tests.media import make_clip

KEEP = timedelta(days=2)


def _stage(directory: Path, data: bytes, *, size: int, age_days: float = 0, **meta: str) -> str:
    """An upload as tuspyserver leaves it: the bytes received so far and the info file."""
    upload_id = uuid.uuid4().hex
    directory.mkdir(parents=True, exist_ok=True)
    (directory / upload_id).write_bytes(data)
    info = {"metadata": meta, "size": size, "offset": len(data), "created_at": "now"}
    (directory / f"{upload_id}.info").write_text(json.dumps(info))
    if age_days:
        then = time.time() - age_days * 24 * 3600
        for path in directory.glob(f"{upload_id}*"):
            os.utime(path, (then, then))
    return upload_id


def test_sweep_completes_finished_uploads_and_removes_done_and_expired_ones(
    session: Session, tmp_path: Path
) -> None:
    tree = make_tree(session)
    owner = make_user(session, "pub", Role.publisher, tree.town)
    directory = tmp_path / "uploads"
    clip = make_clip(tmp_path / "c.mp4", seconds=1).read_bytes()
    meta = {"filename": "c.mp4", "course_title": "新课程", "org_id": str(tree.town.id)}
    finished = _stage(directory, clip, size=len(clip), title="补完", **meta)
    finished_old = _stage(directory, clip, size=len(clip), age_days=3, title="过期前", **meta)
    resumable = _stage(directory, clip[:10], size=len(clip), age_days=1, **meta)
    expired = _stage(directory, clip[:10], size=len(clip), age_days=3, **meta)
    for upload_id in (finished, finished_old, resumable, expired):
        record_upload(session=session, upload_id=upload_id, owner=owner)
    session.get_one(Upload, expired).created_at = utcnow() - timedelta(days=3)
    session.commit()
    (directory / ".locks").mkdir()
    (directory / ".locks" / f"{expired}.lock").touch()

    removed = sweep_uploads(directory=directory, store=get_store(), max_age=KEEP)

    assert removed == 3
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [".locks", resumable, f"{resumable}.info"]
    )
    assert list((directory / ".locks").iterdir()) == []
    with session_scope() as check:
        lessons = {
            lesson.upload_id: lesson
            for lesson in check.scalars(select(Lesson).where(Lesson.upload_id.is_not(None)))
        }
        # a finished upload is never lost: even one past its resume window becomes its lesson
        assert set(lessons) == {finished, finished_old}
        assert lessons[finished].title == "补完" and lessons[finished].created_by == owner.id
        assert get_store().get_bytes(lessons[finished_old].source_key) == clip
        # an owner record goes with its resume window
        assert set(check.scalars(select(Upload.id))) == {finished, finished_old, resumable}

    # a second sweep changes nothing and makes no second lesson
    assert sweep_uploads(directory=directory, store=get_store(), max_age=KEEP) == 0
    with session_scope() as check:
        assert len(check.scalars(select(Lesson)).all()) == 2


def test_sweep_of_a_missing_directory_does_nothing(tmp_path: Path) -> None:
    assert sweep_uploads(directory=tmp_path / "missing", store=get_store(), max_age=KEEP) == 0
