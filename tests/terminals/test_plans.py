"""Study plans: who may set them, whom they bind, and their routes for every role and scope."""

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound, PermissionDenied
from core.people.models import Member, User
from courseware.models import Visibility
from terminals.plans.models import Audience
from terminals.plans.service import (
    ItemChoice,
    bound_members,
    create_plan,
    plans_binding,
    withdraw_plan,
)
from tests.factories import make_callers, make_course, make_lesson, make_tree, token_for

DUE = date.today() + timedelta(days=30)
CALLERS = [None, "member", "pub", "adm", "far", "root"]


def _member(session: Session, org_id: int, serial: int) -> Member:
    member = Member(
        org_id=org_id,
        name=f"党员{serial}",
        id_number_hash=f"hash-{serial}",
        id_number_masked=f"1101**********{serial:04d}",
    )
    session.add(member)
    session.commit()
    return member


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    tree = make_tree(session)
    callers = make_callers(session, tree)
    course = make_course(session, callers["pub"], tree.town, title="党章学习")
    first = make_lesson(session, course, "第一讲", credit_hours=1.0)
    make_lesson(session, course, "第二讲", credit_hours=0.5)
    hidden = make_course(session, callers["far"], tree.other, "邻区课程", Visibility.org)
    return {
        "tree": tree,
        "course": course.id,
        "lesson": first.id,
        "hidden": hidden.id,
        "member": _member(session, tree.branch.id, 1).id,
        "sibling_member": _member(session, tree.sibling.id, 2).id,
        "far_member": _member(session, tree.other.id, 3).id,
    }


def _user(session: Session, login: str) -> User:
    return session.scalars(select(User).where(User.login == login)).one()


def _plan(session: Session, world: dict[str, Any], **changes: Any) -> Any:
    fields: dict[str, Any] = {
        "session": session,
        "actor": _user(session, "adm"),
        "org_id": world["tree"].town.id,
        "title": "七一专题",
        "deadline": DUE,
        "audience": Audience.subtree,
        "items": [ItemChoice(course_id=world["course"]), ItemChoice(lesson_id=world["lesson"])],
    }
    plan = create_plan(**{**fields, **changes})
    session.commit()
    return plan


def test_a_plan_binds_the_subtree_and_takes_the_items_own_hours(
    session: Session, world: dict[str, Any]
) -> None:
    plan = _plan(session, world)
    assert [item.credit_hours for item in plan.items] == [1.5, 1.0]
    bound = [m.id for m in session.scalars(bound_members(plan=plan))]
    assert bound == [world["member"], world["sibling_member"]]
    member = session.get_one(Member, world["member"])
    assert [p.id for p in plans_binding(session=session, member=member)] == [plan.id]
    far = session.get_one(Member, world["far_member"])
    assert plans_binding(session=session, member=far) == []
    withdraw_plan(session=session, actor=_user(session, "adm"), plan_id=plan.id)
    session.commit()
    assert plans_binding(session=session, member=member) == []


def test_a_named_plan_binds_only_the_members_it_names(
    session: Session, world: dict[str, Any]
) -> None:
    plan = _plan(
        session,
        world,
        audience=Audience.named,
        member_ids=[world["sibling_member"]],
        items=[ItemChoice(lesson_id=world["lesson"], credit_hours=2.0)],
    )
    assert [item.credit_hours for item in plan.items] == [2.0]
    assert [m.id for m in session.scalars(bound_members(plan=plan))] == [world["sibling_member"]]
    member = session.get_one(Member, world["member"])
    assert plans_binding(session=session, member=member) == []


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"items": []}, InvalidInput),
        ({"deadline": date.today() - timedelta(days=1)}, InvalidInput),
        ({"audience": Audience.named, "member_ids": []}, InvalidInput),
        ({"audience": Audience.duty, "duty": ""}, InvalidInput),
        ({"member_ids": [3]}, InvalidInput),  # a member outside the subtree
        ({"items": [ItemChoice(lesson_id=1, course_id=1)]}, InvalidInput),
        ({"items": [ItemChoice(lesson_id=1, credit_hours=-1)]}, InvalidInput),
        ({"org_id": "other"}, PermissionDenied),
        ({"items": [ItemChoice(course_id="hidden")]}, NotFound),
    ],
)
def test_bad_plans_are_refused(
    session: Session, world: dict[str, Any], changes: dict[str, Any], error: type[Exception]
) -> None:
    if changes.get("org_id") == "other":
        changes["org_id"] = world["tree"].other.id
    if changes.get("member_ids") == [3]:
        changes["member_ids"] = [world["far_member"]]
    if changes.get("items") and changes["items"][0].course_id == "hidden":
        changes["items"] = [ItemChoice(course_id=world["hidden"])]
    with pytest.raises(error):
        _plan(session, world, **changes)


ROUTES = {
    "/api/plans": {None: 401, "member": 403, "pub": 403, "adm": 200, "far": 200, "root": 200},
    "/api/plans/{plan}": {
        None: 401,
        "member": 403,
        "pub": 403,
        "adm": 200,
        "far": 404,
        "root": 200,
    },
    "/admin/plans": {None: 303, "member": 403, "pub": 403, "adm": 200, "far": 200, "root": 200},
    "/admin/plans/{plan}": {
        None: 303,
        "member": 403,
        "pub": 403,
        "adm": 200,
        "far": 404,
        "root": 200,
    },
}


@pytest.mark.parametrize("who", CALLERS)
def test_routes(
    client: TestClient, session: Session, world: dict[str, Any], who: str | None
) -> None:
    plan = _plan(session, world)
    token_for(client, who)
    wrong = []
    for route, expected in ROUTES.items():
        url = route.format(plan=plan.id)
        status = client.get(url, follow_redirects=False).status_code
        if status != expected[who]:
            wrong.append((url, status, expected[who]))
    assert not wrong, wrong


@pytest.mark.parametrize("who", CALLERS)
def test_setting_and_withdrawing_through_the_api(
    client: TestClient, session: Session, world: dict[str, Any], who: str | None
) -> None:
    token = token_for(client, who)
    body = {
        "org_id": world["tree"].branch.id,
        "title": "学习计划",
        "deadline": DUE.isoformat(),
        "items": [{"course_id": world["course"]}],
    }
    created = client.post("/api/plans", json=body, headers={"X-CSRF-Token": token})
    expected = {None: 401, "member": 403, "pub": 403, "adm": 201, "far": 403, "root": 201}
    assert created.status_code == expected[who], created.text
    if created.status_code != 201:
        return
    plan = created.json()
    assert plan["total_hours"] == 1.5 and plan["items"][0]["title"] == "党章学习"
    gone = client.delete(f"/api/plans/{plan['id']}", headers={"X-CSRF-Token": token})
    assert gone.json()["withdrawn_at"] is not None
    assert client.get("/api/plans").json() == []
    assert len(client.get("/api/plans?withdrawn=true").json()) == 1


def test_the_page_sets_a_plan_and_shows_the_reason_of_a_refusal(
    client: TestClient, world: dict[str, Any]
) -> None:
    token = token_for(client, "adm")
    form = {
        "csrf_token": token,
        "title": "两学一做",
        "org_id": str(world["tree"].town.id),
        "audience": "subtree",
        "deadline": DUE.isoformat(),
        "course_ids": [str(world["course"])],
    }
    done = client.post("/admin/plans?lang=zh_CN", data=form, follow_redirects=True)
    assert done.status_code == 200 and "两学一做" in done.text and "党章学习" in done.text
    refused = client.post("/admin/plans", data={**form, "course_ids": []})
    assert refused.status_code == 400 and "至少选择一门课程" in refused.text
    page = client.get("/admin/plans")
    assert "两学一做" in page.text and "1.5" in page.text
