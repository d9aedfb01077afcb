"""Errors as the web answers them: a page in the reader's language that knows who is logged in,
JSON for the API, and nothing of what failed inside (exception text, hosts, endpoints), which
goes to the log under a request id instead."""

import logging
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import core.health
from core.api import db_session
from core.db import make_engine
from core.people.models import Role
from core.storage import S3Config, S3Store, get_store
from courseware.models import Lesson, LessonStatus, Visibility
from courseware.service import create_course
from tests.factories import log_in, make_tree, make_user
from web.app import create_app

DEAD = "127.0.0.1:1"
SECRET_DATABASE = f"postgresql+psycopg://yj:pw-secret@{DEAD}/internal_db"


@pytest.fixture
def app() -> FastAPI:
    return create_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _published_lesson(session: Session) -> Lesson:
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    make_user(session, "member", Role.member, tree.branch)
    course = create_course(
        session=session,
        user=publisher,
        title="党课",
        org_id=tree.town.id,
        visibility=Visibility.public,
    )
    lesson = Lesson(
        course=course,
        title="一",
        status=LessonStatus.ready,
        source_key="x",
        master_key="x",
        duration=60,
    )
    session.add(lesson)
    session.commit()
    return lesson


def test_html_errors_know_who_is_logged_in(client: TestClient, session: Session) -> None:
    _published_lesson(session)
    log_in(client, "member")
    for response in (
        client.get("/no/such/page"),  # unknown address: 404
        client.get("/upload"),  # a member may not upload: 403
        client.get("/courses/999999"),  # no such course: 404
        client.post("/", data={}),  # wrong method: 405
    ):
        assert response.status_code in (403, 404, 405), response.status_code
        assert response.headers["content-type"].startswith("text/html")
        page = response.text
        assert 'role="alert"' in page
        assert "退出" in page and "member" in page  # who is logged in, with the logout button
        assert 'href="/login' not in page  # no 登录 offered to someone logged in
    english = client.get("/no/such/page?lang=en")
    assert "Nothing is found at this address." in english.text and "Log out" in english.text
    assert "请求的地址不存在" in client.get("/no/such/page").text


def test_api_errors_are_always_json(client: TestClient) -> None:
    unknown = client.get("/api/no/such/thing")
    assert unknown.status_code == 404 and unknown.json() == {"detail": "请求的地址不存在。"}
    wrong_method = client.delete("/api/courses")
    assert wrong_method.status_code == 405 and "detail" in wrong_method.json()
    assert "GET" in wrong_method.headers["allow"]
    invalid = client.get("/api/courses/abc")
    assert invalid.status_code == 422
    detail = invalid.json()["detail"]
    assert isinstance(detail, str) and detail.startswith("请求无效：") and "course_id" in detail
    english = client.get("/api/courses/abc?lang=en").json()["detail"]
    assert english.startswith("The request is not valid: course_id: ")


def test_an_unexpected_failure_shows_a_request_id_not_its_text(
    app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise RuntimeError("cannot reach cache.internal.example:6379")

    app.add_api_route("/explode", explode)
    app.add_api_route("/api/explode", explode)
    with caplog.at_level(logging.ERROR, logger="web.app"):
        page = client.get("/explode")
        api = client.get("/api/explode")
    assert page.status_code == api.status_code == 500
    for response in (page, api):
        assert "cache.internal" not in response.text and "RuntimeError" not in response.text
        assert "Traceback" not in response.text
        assert response.headers["content-security-policy"]  # headers on this path too
    request_id = api.json()["request_id"]
    assert api.headers["x-request-id"] == request_id
    assert api.json()["detail"] == "服务器出错了，请稍后再试。"
    assert re.search(r"供管理员查询的编号：[0-9a-f]{12}", page.text)
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback is in the log
    assert "cache.internal" in str(logged[0].exc_info[1])


def test_a_failing_store_is_a_generic_503(
    app: FastAPI, client: TestClient, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    lesson = _published_lesson(session)
    away = S3Store(S3Config(endpoint=DEAD, bucket="lessons", create_bucket=False))
    app.dependency_overrides[get_store] = lambda: away
    with caplog.at_level(logging.ERROR, logger="web.app"):
        response = client.get(f"/media/lessons/{lesson.id}/hls/master.m3u8")
    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "服务暂时不可用，请稍后再试。"
    assert DEAD not in response.text and "lessons/" not in response.text
    assert any(
        DEAD in r.getMessage() and body["request_id"] in r.getMessage() for r in caplog.records
    )


def test_a_failing_database_is_a_generic_503(app: FastAPI, client: TestClient) -> None:
    unreachable = make_engine(SECRET_DATABASE)

    def broken_session() -> Iterator[Session]:
        with Session(unreachable) as session:
            yield session

    app.dependency_overrides[db_session] = broken_session
    for path in ("/api/courses", "/"):
        response = client.get(path)
        assert response.status_code == 503, response.text
        assert DEAD not in response.text and "pw-secret" not in response.text
        assert "internal_db" not in response.text and "psycopg" not in response.text
    assert "服务暂时不可用" in response.text and "登录" in response.text


def test_health_names_only_the_failed_engine(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    away = S3Store(S3Config(endpoint=DEAD, bucket="lessons", create_bucket=False))
    monkeypatch.setattr(core.health, "get_store", lambda: away)
    down = client.get("/healthz")
    assert down.status_code == 503
    assert down.json() == {"status": "unavailable", "failed": ["storage"]}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"headers": {"referer": "https://evil.example/phish"}}, "/"),
        ({"headers": {"referer": "http://testserver/courses/3?q=x"}}, "/courses/3?q=x"),
        ({"params": {"next": "//evil.example/"}}, "/"),
        ({"params": {"next": "/\\evil.example/"}}, "/"),
        ({"params": {"next": "javascript:alert(1)"}}, "/"),
        ({"params": {"next": "https://evil.example/"}}, "/"),
        ({"params": {"next": "/upload"}}, "/upload"),
        ({}, "/"),
    ],
)
def test_language_switch_goes_back_only_within_the_site(
    client: TestClient, target: dict[str, dict[str, str]], expected: str
) -> None:
    response = client.get("/lang/en", follow_redirects=False, **target)  # type: ignore[arg-type]
    assert response.status_code == 303
    assert response.headers["location"] == expected
    assert "lang=en" in response.headers["set-cookie"]
    assert "set-cookie" not in client.get("/lang/xx", follow_redirects=False).headers
