"""Every study and credits route against every role and org scope: a member reaches only their
own record and sessions; admins only their subtrees; nobody else anything."""

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.people.models import Role
from tests.factories import make_callers, make_course, make_lesson, make_tree, token_for
from tests.terminals.study import begin, make_member

CALLERS = [None, "member", "learner", "pub", "adm", "far", "root"]


@dataclass
class World:
    learner_member: int
    peer_member: int
    lesson: int
    town: int
    other_session: str


@pytest.fixture
def world(session: Session) -> World:
    tree = make_tree(session)
    callers = make_callers(session, tree)
    course = make_course(session, callers["pub"], tree.town)
    lesson = make_lesson(session, course, duration=60.0, credit_hours=1.0)
    learner, learner_user = make_member(session, tree.branch, "张三", 1, login="learner")
    peer, peer_user = make_member(session, tree.sibling, "李四", 2, login="peer")
    assert learner_user is not None and peer_user is not None
    playback = begin(session, peer_user, lesson)
    return World(learner.id, peer.id, lesson.id, tree.town.id, playback.id)


def beat_body(session_id: str) -> str:
    return (
        f'{{"session_id": "{session_id}", "seq": 1, "clock": 0.5, "position": 0.5, '
        '"rate": 1, "visible": true, "intervals": [[0, 0.5]]}'
    )


# Expected status per caller; "learner" is the member with a login of their own.
EXPECTED = {
    "start": {
        None: 401, "member": 403, "learner": 201, "pub": 403, "adm": 403, "far": 403, "root": 403,
    },
    "beat on another's session": {
        None: 401, "member": 403, "learner": 403, "pub": 403, "adm": 403, "far": 403, "root": 403,
    },
    "own transcript": {
        None: 401, "member": 404, "learner": 200, "pub": 404, "adm": 200, "far": 404, "root": 200,
    },
    "peer's transcript": {
        None: 401, "member": 404, "learner": 404, "pub": 404, "adm": 200, "far": 404, "root": 200,
    },
    "correction": {
        None: 401, "member": 404, "learner": 403, "pub": 404, "adm": 201, "far": 404, "root": 201,
    },
    "ranking": {
        None: 401, "member": 404, "learner": 404, "pub": 404, "adm": 200, "far": 404, "root": 200,
    },
    "transcript page": {
        None: 303, "member": 404, "learner": 200, "pub": 404, "adm": 200, "far": 404, "root": 200,
    },
}  # fmt: skip


@pytest.mark.parametrize("who", CALLERS)
def test_routes(client: TestClient, world: World, who: str | None) -> None:
    csrf = token_for(client, who)
    headers = {"X-CSRF-Token": csrf}
    calls = {
        "start": lambda: client.post(
            "/api/study/sessions", json={"lesson_id": world.lesson}, headers=headers
        ),
        "beat on another's session": lambda: client.post(
            "/api/study/beats",
            content=beat_body(world.other_session),
            headers={"Content-Type": "text/plain;charset=UTF-8"},
        ),
        "own transcript": lambda: client.get(f"/api/members/{world.learner_member}/transcript"),
        "peer's transcript": lambda: client.get(f"/api/members/{world.peer_member}/transcript"),
        "correction": lambda: client.post(
            f"/api/members/{world.learner_member}/credits/corrections",
            json={"hours": 2, "reason": "集中培训半天"},
            headers=headers,
        ),
        "ranking": lambda: client.get(f"/api/orgs/{world.town}/ranking?year=2026"),
        "transcript page": lambda: client.get(
            f"/members/{world.learner_member}/transcript", follow_redirects=False
        ),
    }
    wrong = []
    for name, call in calls.items():
        status = call().status_code
        if status != EXPECTED[name][who]:
            wrong.append((name, status, EXPECTED[name][who]))
    assert not wrong, wrong


def test_state_changing_routes_need_the_csrf_token_except_the_beacon(
    client: TestClient, world: World
) -> None:
    token_for(client, "learner")
    refused = client.post("/api/study/sessions", json={"lesson_id": world.lesson})
    assert refused.status_code == 403
    refused = client.post(
        f"/api/members/{world.learner_member}/credits/corrections",
        json={"hours": 1, "reason": "x"},
    )
    assert refused.status_code == 403
    assert Role.member  # the member role is what make_member grants
