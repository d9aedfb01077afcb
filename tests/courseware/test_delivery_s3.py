"""With S3 storage the app serves playlists only; segments come straight from the S3 server."""

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.db import session_scope
from core.jobs import execute_job
from core.people.models import Role
from core.storage import ObjectStore
from courseware.ingest import ingest_lesson
from courseware.models import Course, Lesson, Visibility
from courseware.service import create_course
from tests.factories import make_tree, make_user
from tests.media import make_clip

pytestmark = pytest.mark.s3


def test_public_lesson_on_s3_plays_from_presigned_urls(
    session: Session,
    s3_store: ObjectStore,
    s3_client: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import courseware.tasks

    monkeypatch.setattr(courseware.tasks, "get_store", lambda: s3_store)
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    course = create_course(
        session=session,
        user=publisher,
        title="公开课",
        org_id=tree.town.id,
        visibility=Visibility.public,
    )
    session.commit()
    lesson = ingest_lesson(
        store=s3_store,
        user_id=publisher.id,
        course=lambda own, _user: own.get_one(Course, course.id),
        title="S3 课时",
        source=make_clip(tmp_path / "s3.mp4", seconds=3, width=640, height=360),
        filename="s3.mp4",
        enqueue_job=False,
    )
    assert lesson.job_id is not None
    execute_job(lesson.job_id)
    with session_scope() as check:
        assert check.get_one(Lesson, lesson.id).status.value == "ready"
    assert s3_store.exists(f"lessons/{lesson.id}/hls/master.m3u8")

    master = s3_client.get(f"/media/lessons/{lesson.id}/hls/master.m3u8")
    assert master.status_code == 200
    assert "360p/index.m3u8" in master.text  # playlists keep coming from the app
    variant = s3_client.get(f"/media/lessons/{lesson.id}/hls/360p/index.m3u8").text
    direct = [line for line in variant.splitlines() if line.startswith("http")]
    init = variant.split('URI="')[1].split('"')[0]
    assert direct and init.startswith("http") and "X-Amz-Signature=" in init
    for url in [init, *direct]:
        response = httpx.get(url)
        assert response.status_code == 200 and len(response.content) > 0
    # a client that asks the app for a segment anyway is sent to the store
    segment = s3_client.get(
        f"/media/lessons/{lesson.id}/hls/360p/seg_00001.m4s", follow_redirects=False
    )
    assert segment.status_code == 302 and "X-Amz-Signature=" in segment.headers["location"]
