"""Captions on S3 storage: stored with their WebVTT type, served by the app from the same route
as on the local store (a `<track>` cannot follow a redirect to another origin), removed."""

from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.people.models import Role
from core.storage import ObjectStore
from courseware.models import Visibility
from tests.factories import log_in, make_course, make_lesson, make_tree, make_user

pytestmark = pytest.mark.s3

SRT = "1\n00:00:01,000 --> 00:00:02,000\n第一句\n\n2\n00:00:03,000 --> 00:00:04,000\n第二句\n"


def test_captions_on_s3_are_stored_served_replaced_and_removed(
    session: Session, s3_store: ObjectStore, s3_client: TestClient
) -> None:
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    course = make_course(session, publisher, tree.town, visibility=Visibility.public)
    lesson = make_lesson(session, course, duration=10.0)
    token = log_in(s3_client, "pub")
    added = s3_client.post(
        f"/api/lessons/{lesson.id}/captions",
        files={"file": ("讲话.srt", SRT.encode("gbk"))},
        data={"language": "zh-CN"},
        headers={"X-CSRF-Token": token},
    )
    assert added.status_code == 201, added.text
    key = f"lessons/{lesson.id}/hls/captions/zh-CN.vtt"
    assert s3_store.stat(key).content_type == "text/vtt; charset=utf-8"

    anonymous = TestClient(s3_client.app)
    served = anonymous.get(added.json()["url"], follow_redirects=False)
    assert served.status_code == 200  # from the app, not a redirect to the store
    assert served.headers["content-type"] == "text/vtt; charset=utf-8"
    assert served.text == (
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\n第一句\n"
        "\n2\n00:00:03.000 --> 00:00:04.000\n第二句\n"
    )
    # a site syncing the HLS tree straight from the store gets the same file and type
    presigned = s3_store.presigned_url(key, expires=timedelta(minutes=5))
    assert presigned is not None
    direct = httpx.get(presigned)
    assert direct.content == served.content
    assert direct.headers["content-type"] == "text/vtt; charset=utf-8"

    replaced = s3_client.post(
        f"/api/lessons/{lesson.id}/captions",
        files={"file": ("new.vtt", b"WEBVTT\n\n00:02.000 --> 00:03.000\n\xe6\x96\xb0\n")},
        data={"language": "zh-CN"},
        headers={"X-CSRF-Token": token},
    )
    assert replaced.status_code == 201 and replaced.json()["cues"] == 1
    assert "新" in anonymous.get(added.json()["url"]).text

    removed = s3_client.delete(
        f"/api/lessons/{lesson.id}/captions/zh-CN", headers={"X-CSRF-Token": token}
    )
    assert removed.status_code == 204
    assert not s3_store.exists(key)
    assert anonymous.get(added.json()["url"]).status_code == 404
