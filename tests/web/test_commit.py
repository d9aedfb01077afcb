"""A write that a response reports is committed before the response is sent: a commit that
fails gives an error response, never a success for a change that was not kept."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.db import get_engine
from core.people.models import Role
from courseware.models import Lesson
from tests.factories import Tree, log_in, make_course, make_lesson, make_user
from web.app import create_app


@contextmanager
def failing_commits(table: str) -> Iterator[list[str]]:
    """Commits of a transaction that changed `table` fail meanwhile, as a full disk or a lost
    server fails them; other transactions (the login session's lookup) go through."""
    failed: list[str] = []
    changed: set[int] = set()

    def note(connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith(f"UPDATE {table} "):
            changed.add(id(connection))

    def refuse(connection: Any) -> None:
        if id(connection) in changed:
            changed.discard(id(connection))
            failed.append(table)
            raise connection.dialect.loaded_dbapi.OperationalError("disk I/O error (injected)")

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", note)
    event.listen(engine, "commit", refuse)
    try:
        yield failed
    finally:
        event.remove(engine, "before_cursor_execute", note)
        event.remove(engine, "commit", refuse)


def test_a_failed_commit_is_an_error_response_not_a_success(session: Session, tree: Tree) -> None:
    # the server answers the failure and then logs it; the client sees only the answer
    client = TestClient(create_app(), raise_server_exceptions=False)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    lesson = make_lesson(session, make_course(session, publisher, tree.town), title="旧标题")
    token = log_in(client, "pub")
    with failing_commits("lessons") as failed:
        response = client.patch(
            f"/api/lessons/{lesson.id}", json={"title": "新标题"}, headers={"X-CSRF-Token": token}
        )
    assert failed == ["lessons"], "the handler's commit was tried, and only that one failed"
    assert response.status_code >= 500, response.text
    session.expire_all()
    assert session.get_one(Lesson, lesson.id).title == "旧标题"
    kept = client.patch(
        f"/api/lessons/{lesson.id}", json={"title": "新标题"}, headers={"X-CSRF-Token": token}
    )
    assert kept.status_code == 200 and kept.json()["title"] == "新标题"
