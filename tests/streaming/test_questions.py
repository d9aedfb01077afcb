"""Viewers' questions: a viewer of the broadcast asks, within a rate limit; the chair (or an
administrator of the event's organisation) puts one on screen, takes it off or dismisses one,
each moderation audited with who and when; every viewer sees the one on screen; anyone else is
refused. In Chromium: a question sent from the watch page is put on screen from the chair's
room page and shows on the watch page."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.errors import InvalidInput
from core.people.models import Member
from streaming.congress.models import Question, QuestionStatus
from streaming.congress.questions import PER_MINUTE, ask_question
from tests.factories import Tree, log_in
from tests.streaming.test_events import schedule, user
from tests.web.test_browser import (  # noqa: F401
    browser,
    playwright,
    server,
)
from tests.web.test_browser import log_in as browser_log_in


def ask(client: TestClient, csrf: str, event_id: int, text: str, name: str = "") -> Any:
    return client.post(
        f"/api/events/{event_id}/questions",
        json={"text": text, "name": name},
        headers={"X-CSRF-Token": csrf},
    )


def moderate(client: TestClient, csrf: str, event_id: int, question: int, action: str) -> Any:
    return client.post(
        f"/api/events/{event_id}/questions/{question}/{action}", headers={"X-CSRF-Token": csrf}
    )


def test_the_chair_puts_a_viewers_question_on_screen_and_every_viewer_sees_it(
    client: TestClient, session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    url = f"/api/events/{event.id}/questions"
    csrf = log_in(client, "ma")
    asked = ask(client, csrf, event.id, "  村里的道路什么时候修？ ")
    assert asked.status_code == 201, asked.text
    first = asked.json()
    assert (first["name"], first["text"], first["status"]) == (
        "马党员",
        "村里的道路什么时候修？",
        "pending",
    )
    second = ask(client, csrf, event.id, "党费怎么交？", name="小马").json()
    assert second["name"] == "小马"
    assert ask(client, csrf, event.id, "").status_code == 400
    too_long = ask(client, csrf, event.id, "问" * 301)
    assert too_long.status_code == 400 and "300" in too_long.text
    assert client.get(url).json() == {"on_screen": None, "pending": None}  # not the chair's list
    refused = moderate(client, csrf, event.id, first["id"], "show")
    assert refused.status_code == 403

    csrf = log_in(client, "chair")
    listed = client.get(url).json()
    assert [q["id"] for q in listed["pending"]] == [first["id"], second["id"]]
    assert moderate(client, csrf, event.id, first["id"], "show").json()["status"] == "on_screen"
    assert moderate(client, csrf, event.id, first["id"], "dismiss").status_code == 400
    assert moderate(client, csrf, event.id, first["id"], "undo").status_code == 422
    assert moderate(client, csrf, event.id, 999999, "show").status_code == 404

    log_in(client, "niu")  # an observer: a viewer too
    assert client.get(url).json()["on_screen"]["text"] == "村里的道路什么时候修？"

    csrf = log_in(client, "adm")  # the organisation's administrator moderates as the chair
    assert moderate(client, csrf, event.id, second["id"], "show").status_code == 200
    shown = client.get(url).json()
    assert shown["on_screen"]["id"] == second["id"] and shown["pending"] == []
    assert moderate(client, csrf, event.id, second["id"], "done").status_code == 200
    assert client.get(url).json()["on_screen"] is None

    session.expire_all()
    states = {q.id: (q.status, q.moderated_by) for q in session.scalars(select(Question))}
    adm = user(session, "adm").id
    assert states == {
        first["id"]: (QuestionStatus.done, adm),
        second["id"]: (QuestionStatus.done, adm),
    }
    audited = session.scalars(
        select(AuditEntry).where(AuditEntry.target_type == "event_question").order_by(AuditEntry.id)
    ).all()
    assert [(e.action, e.actor_login, e.target_id) for e in audited] == [
        ("question_shown", "chair", str(first["id"])),
        ("question_shown", "adm", str(second["id"])),
        ("question_taken_off", "adm", str(second["id"])),
    ]
    assert all(e.at is not None for e in audited)


def test_questions_are_refused_outside_the_audience_and_over_the_rate(
    client: TestClient, session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    url = f"/api/events/{event.id}/questions"
    assert client.post(url, json={"text": "?"}).status_code in (401, 403)  # no session
    csrf = log_in(client, "outsider")  # another district's member: may not watch it
    assert ask(client, csrf, event.id, "我能问吗？").status_code == 404
    assert client.get(url).status_code == 404
    csrf = log_in(client, "ma")
    for n in range(PER_MINUTE):
        assert ask(client, csrf, event.id, f"第{n}个问题").status_code == 201
    flooded = ask(client, csrf, event.id, "再问一个")
    assert flooded.status_code == 400 and str(PER_MINUTE) in flooded.text
    pending = session.scalars(select(Question)).all()
    assert len(pending) == PER_MINUTE
    csrf = log_in(client, "chair")
    dismissed = moderate(client, csrf, event.id, pending[0].id, "dismiss")
    assert dismissed.json()["status"] == "dismissed"
    other = schedule(session, tree, people, title="另一个会议")
    wrong_event = moderate(client, csrf, other.id, pending[1].id, "show")
    assert wrong_event.status_code == 404


def test_an_anonymous_viewer_gives_a_name_and_is_limited_by_address(
    session: Session, tree: Tree, people: dict[str, Member]
) -> None:
    event = schedule(session, tree, people)
    with pytest.raises(InvalidInput):
        ask_question(
            session=session, event=event, user=None, name=" ", text="?", address="10.0.0.1"
        )
    for _ in range(PER_MINUTE):
        ask_question(
            session=session, event=event, user=None, name="群众", text="?", address="10.0.0.1"
        )
    with pytest.raises(InvalidInput):
        ask_question(
            session=session, event=event, user=None, name="另一人", text="?", address="10.0.0.1"
        )
    other = ask_question(
        session=session, event=event, user=None, name="邻村", text="?", address="10.0.0.2"
    )
    assert other.user_id is None and other.name == "邻村" and "10.0.0" not in other.asker


@pytest.mark.browser
def test_a_question_from_the_watch_page_goes_on_screen_from_the_chairs_room(
    server: str,  # noqa: F811
    browser: Browser,  # noqa: F811
    session: Session,
    tree: Tree,
    people: dict[str, Member],
) -> None:
    event = schedule(session, tree, people)
    viewer = browser.new_context(locale="zh-CN").new_page()
    browser_log_in(viewer, server, "ma")
    viewer.goto(f"{server}/events/{event.id}/watch")
    viewer.locator("#question-form textarea[name=text]").fill("会后能看回放吗？")
    viewer.locator("#question-form button[type=submit]").click()
    expect(viewer.locator("#question-note")).not_to_be_empty()
    expect(viewer.locator("#question-on-screen")).to_be_hidden()

    chair = browser.new_context(locale="zh-CN").new_page()
    browser_log_in(chair, server, "chair")
    chair.goto(f"{server}/events/{event.id}/room")
    waiting = chair.locator("#questions-waiting li")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("会后能看回放吗？")
    waiting.locator("button[data-action=show]").click()
    expect(chair.locator("#question-on-screen")).to_contain_text("会后能看回放吗？")
    expect(waiting).to_have_count(0)

    on_screen = viewer.locator("#question-on-screen")
    expect(on_screen).to_be_visible(timeout=8000)
    expect(on_screen).to_contain_text("马党员")
    expect(on_screen).to_contain_text("会后能看回放吗？")
    chair.locator("#question-on-screen button[data-action=done]").click()
    expect(on_screen).to_be_hidden(timeout=8000)
    viewer.context.close()
    chair.context.close()
