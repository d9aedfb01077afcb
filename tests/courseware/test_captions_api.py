"""Captions through the API, the media route, the lesson page and the command line, on the local
store: added, listed with the lesson, served as WebVTT, replaced, removed, refused with the cue."""

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.audit.models import AuditEntry
from core.people.models import Role
from core.storage import get_store
from courseware.captions import MAX_CAPTION_BYTES
from courseware.models import LessonCaption, LessonStatus, Visibility
from tests.factories import Tree, log_in, make_course, make_lesson, make_tree, make_user
from web.app import create_app
from web.cli import app as cli

SRT = "1\n00:00:01,000 --> 00:00:04,000\n同志们好\n\n2\n00:00:05,000 --> 00:00:08,000\n开始学习\n"
ENGLISH = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nHello, comrades\n"


@pytest.fixture
def tree(session: Session) -> Tree:
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    make_user(session, "member", Role.member, tree.branch)
    make_user(session, "outsider", Role.member, tree.other)
    return tree


@pytest.fixture
def lesson_id(session: Session, tree: Tree) -> int:
    course = make_course(
        session,
        make_user(session, "maker", Role.publisher, tree.district),
        tree.branch,
        title="支部课",
        visibility=Visibility.org,
    )
    return make_lesson(session, course, duration=30.0).id


def _upload(
    client: TestClient, token: str, lesson_id: int, data: bytes, language: str = "zh-CN"
) -> httpx.Response:
    return client.post(
        f"/api/lessons/{lesson_id}/captions",
        files={"file": ("字幕.srt", data, "application/x-subrip")},
        data={"language": language},
        headers={"X-CSRF-Token": token},
    )


def test_captions_are_added_listed_served_replaced_and_removed(
    client: TestClient, session: Session, lesson_id: int
) -> None:
    token = log_in(client, "pub")
    added = _upload(client, token, lesson_id, SRT.encode("gbk"))
    assert added.status_code == 201, added.text
    url = f"/media/lessons/{lesson_id}/hls/captions/zh-CN.vtt"
    track = {"language": "zh-CN", "label": "中文", "url": url, "cues": 2, "size": 99}
    assert added.json() == track
    assert client.get(f"/api/lessons/{lesson_id}").json()["captions"] == [track]

    member = TestClient(create_app())
    log_in(member, "member")
    served = member.get(url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "text/vtt; charset=utf-8"
    assert served.text.startswith("WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\n同志们好\n")
    assert get_store().get_bytes(f"lessons/{lesson_id}/hls/captions/zh-CN.vtt") == served.content
    outsider = TestClient(create_app())
    log_in(outsider, "outsider")
    assert outsider.get(url).status_code == 404
    assert TestClient(create_app()).get(url).status_code == 404

    english = _upload(client, token, lesson_id, ENGLISH.encode(), language="en")
    assert english.status_code == 201
    replaced = _upload(client, token, lesson_id, SRT.replace("同志们好", "大家好").encode())
    assert replaced.status_code == 201
    listed = client.get(f"/api/lessons/{lesson_id}").json()["captions"]
    assert [(t["language"], t["label"]) for t in listed] == [("zh-CN", "中文"), ("en", "English")]
    assert "大家好" in member.get(url).text and "同志们好" not in member.get(url).text
    assert len(session.scalars(select(LessonCaption)).all()) == 2

    removed = client.delete(
        f"/api/lessons/{lesson_id}/captions/zh-CN", headers={"X-CSRF-Token": token}
    )
    assert removed.status_code == 204
    assert member.get(url).status_code == 404
    assert not get_store().exists(f"lessons/{lesson_id}/hls/captions/zh-CN.vtt")
    assert [t["language"] for t in client.get(f"/api/lessons/{lesson_id}").json()["captions"]] == [
        "en"
    ]
    again = client.delete(
        f"/api/lessons/{lesson_id}/captions/zh-CN", headers={"X-CSRF-Token": token}
    )
    assert again.status_code == 404 and "没有这种语言的字幕" in again.json()["detail"]

    details = [
        entry.detail
        for entry in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "lesson_updated").order_by(AuditEntry.id)
        )
    ]
    assert details == [
        {"captions": "zh-CN", "cues": 2},
        {"captions": "en", "cues": 1},
        {"captions": "zh-CN", "cues": 2},
        {"captions_removed": "zh-CN"},
    ]


def test_a_bad_file_is_refused_naming_the_cue_and_nothing_is_stored(
    client: TestClient, session: Session, lesson_id: int
) -> None:
    token = log_in(client, "pub")
    bad = SRT.replace("00:00:05,000 --> 00:00:08,000", "00:00:05,000 --> 00:00:45,000")
    refused = _upload(client, token, lesson_id, bad.encode())
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "第 2 条字幕（第 6 行）：结束时间 00:00:45.000 超出了课时的长度 00:00:30.000。"
    )
    english = client.post(
        f"/api/lessons/{lesson_id}/captions?lang=en",
        files={"file": ("x.srt", b"\x00\x01\x02binary")},
        data={"language": "zh-CN"},
        headers={"X-CSRF-Token": token},
    )
    assert english.status_code == 400
    assert "Line 1 of the file holds control characters" in english.json()["detail"]
    unknown = _upload(client, token, lesson_id, SRT.encode(), language="fr")
    assert unknown.status_code == 422
    assert session.scalars(select(LessonCaption)).all() == []
    assert list(get_store().list(f"lessons/{lesson_id}/")) == []


def test_size_limits_of_a_caption_upload(client: TestClient, lesson_id: int) -> None:
    token = log_in(client, "pub")
    over_parser = _upload(client, token, lesson_id, b"x" * (MAX_CAPTION_BYTES + 10))
    assert over_parser.status_code == 400
    assert "最多允许 2048 KB" in over_parser.json()["detail"]
    over_body = _upload(client, token, lesson_id, b"x" * (MAX_CAPTION_BYTES + 200 * 1024))
    assert over_body.status_code == 413
    anonymous = TestClient(create_app()).post(  # refused before the login check, unread
        f"/api/lessons/{lesson_id}/captions", content=b"x" * (MAX_CAPTION_BYTES + 100 * 1024)
    )
    assert anonymous.status_code == 413 and "2 MB" in anonymous.json()["detail"]


def test_captions_wait_until_the_lesson_is_processed(
    client: TestClient, session: Session, tree: Tree
) -> None:
    publisher = make_user(session, "maker", Role.publisher, tree.town)
    course = make_course(session, publisher, tree.town)
    pending = make_lesson(session, course, status=LessonStatus.processing)
    token = log_in(client, "maker")
    refused = _upload(client, token, pending.id, SRT.encode())
    assert refused.status_code == 400
    assert refused.json()["detail"] == "课时处理完成后才能添加字幕。"


def test_the_page_gives_viewers_tracks_and_editors_the_form(
    client: TestClient, lesson_id: int
) -> None:
    token = log_in(client, "pub")
    _upload(client, token, lesson_id, SRT.encode())
    _upload(client, token, lesson_id, ENGLISH.encode(), language="en")
    member = TestClient(create_app())
    log_in(member, "member")
    page = member.get(f"/lessons/{lesson_id}").text
    base = f"/media/lessons/{lesson_id}/hls/captions"
    assert (
        f'<track kind="subtitles" srclang="zh-CN" label="中文" src="{base}/zh-CN.vtt" default>'
        in page
    )
    assert f'<track kind="subtitles" srclang="en" label="English" src="{base}/en.vtt">' in page
    assert "captions-form" not in page and 'src="/static/js/captions.' not in page
    english = member.get(f"/lessons/{lesson_id}?lang=en").text
    assert f'src="{base}/zh-CN.vtt">' in english  # not the default in an English page
    editor = client.get(f"/lessons/{lesson_id}").text
    assert 'id="captions-form"' in editor and 'src="/static/js/captions.' in editor
    assert "删除中文字幕" in editor and "2 条" in editor


def test_the_command_adds_captions_as_the_named_account_only_in_its_scope(
    session: Session, tree: Tree, lesson_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "讲话.srt"
    path.write_bytes(SRT.encode("gb18030"))
    runner = CliRunner()
    args = ["lessons", "captions", str(lesson_id), str(path), "--language", "zh-CN"]
    done = runner.invoke(cli, [*args, "--as", "pub"])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "已保存 2 条中文字幕。"
    assert get_store().exists(f"lessons/{lesson_id}/hls/captions/zh-CN.vtt")
    for login, words in [("member", "无权修改该课时"), ("outsider", "不存在")]:
        refused = runner.invoke(cli, [*args, "--as", login])
        assert refused.exit_code == 1
        assert len(refused.output.strip().splitlines()) == 1 and words in refused.output
    path.write_text("1\n00:00:01,000 --> 00:00:00,500\n倒序\n")
    bad = runner.invoke(cli, [*args, "--as", "pub"])
    assert bad.exit_code == 1 and "第 1 条字幕（第 2 行）" in bad.output
