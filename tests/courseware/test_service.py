"""Course library rules: credit hours, visibility down and up the tree, editing rights."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import session_scope
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.people.models import Role
from courseware.catalog import list_categories, list_courses
from courseware.errors import UploadTooLarge
from courseware.models import Lesson, LessonStatus, PlaybackPosition, Visibility
from courseware.service import (
    check_upload_size,
    create_course,
    credit_hours_for,
    find_or_create_course,
    get_course,
    get_lesson,
    resume_position,
    safe_filename,
    save_position,
    update_lesson,
)
from tests.factories import Tree, make_tree, make_user


@pytest.mark.parametrize(
    ("minutes", "hours"),
    [(0, 0.0), (11, 0.0), (12, 0.5), (45, 1.0), (56.25, 1.5), (90, 2.0), (100, 2.0), (101.25, 2.5)],
)
def test_credit_hours_one_per_45_minutes_rounded_to_half(minutes: float, hours: float) -> None:
    assert credit_hours_for(minutes * 60) == hours


@given(st.floats(min_value=0, max_value=20 * 3600))
def test_credit_hours_are_half_steps_close_to_the_rule(seconds: float) -> None:
    hours = credit_hours_for(seconds)
    assert (hours * 2) % 1 == 0
    assert abs(hours - seconds / 2700) <= 0.25 + 1e-9


def test_upload_size_limit() -> None:
    check_upload_size(100, limit=100)
    check_upload_size(None, limit=100)
    with pytest.raises(UploadTooLarge, match="larger than the 0 MB limit"):
        check_upload_size(101, limit=100)


@pytest.mark.parametrize(
    ("given_name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\课程.mp4", "课程.mp4"),
        ("a b?.mp4", "a_b_.mp4"),
        ("...", "upload"),
    ],
)
def test_safe_filename(given_name: str, safe: str) -> None:
    assert safe_filename(given_name) == safe


def _courses(session: Session) -> tuple[Tree, dict[str, int]]:
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    made = {
        "public": create_course(
            session=session,
            user=publisher,
            title="公开课",
            org_id=tree.town.id,
            visibility=Visibility.public,
            category="党史",
        ),
        "town": create_course(session=session, user=publisher, title="镇课", org_id=tree.town.id),
        "branch": create_course(
            session=session, user=publisher, title="支部课", org_id=tree.branch.id, category="党建"
        ),
    }
    session.commit()
    return tree, {name: course.id for name, course in made.items()}


def _visible(session: Session, user: object) -> set[str]:
    return {c.title for c in list_courses(session=session, user=user)}  # type: ignore[arg-type]


def test_visibility_follows_the_tree(session: Session) -> None:
    tree, _ = _courses(session)
    in_branch = make_user(session, "m1", Role.member, tree.branch)
    in_sibling = make_user(session, "m2", Role.member, tree.sibling)
    elsewhere = make_user(session, "m3", Role.member, tree.other)
    district_admin = make_user(session, "a1", Role.org_admin, tree.district)
    assert _visible(session, None) == {"公开课"}
    assert _visible(session, in_branch) == {"公开课", "镇课", "支部课"}
    assert _visible(session, in_sibling) == {"公开课", "镇课"}
    assert _visible(session, elsewhere) == {"公开课"}
    assert _visible(session, district_admin) == {"公开课", "镇课", "支部课"}


def test_invisible_course_is_not_found(session: Session) -> None:
    tree, ids = _courses(session)
    outsider = make_user(session, "m3", Role.member, tree.other)
    with pytest.raises(NotFound):
        get_course(session=session, user=outsider, course_id=ids["branch"])
    assert get_course(session=session, user=outsider, course_id=ids["public"]).title == "公开课"


def test_search_and_categories(session: Session) -> None:
    tree, _ = _courses(session)
    member = make_user(session, "m1", Role.member, tree.branch)
    assert [c.title for c in list_courses(session=session, user=member, query="支部")] == ["支部课"]
    assert [c.title for c in list_courses(session=session, user=member, category="党史")] == [
        "公开课"
    ]
    assert set(list_categories(session=session, user=member)) == {"党史", "党建"}
    assert list_categories(session=session, user=None) == ["党史"]


def test_only_publishers_above_the_owner_create_and_edit(session: Session) -> None:
    tree = make_tree(session)
    member = make_user(session, "m1", Role.member, tree.branch)
    branch_publisher = make_user(session, "p1", Role.publisher, tree.branch)
    with pytest.raises(PermissionDenied):
        create_course(session=session, user=member, title="x", org_id=tree.branch.id)
    with pytest.raises(PermissionDenied):
        create_course(session=session, user=branch_publisher, title="x", org_id=tree.town.id)
    with pytest.raises(InvalidInput):
        create_course(session=session, user=branch_publisher, title="  ", org_id=tree.branch.id)
    course = find_or_create_course(
        session=session, user=branch_publisher, title="新课", org_id=tree.branch.id
    )
    again = find_or_create_course(
        session=session, user=branch_publisher, title="新课", org_id=tree.branch.id
    )
    assert course.id == again.id


def test_find_or_create_looks_only_in_the_given_org(session: Session) -> None:
    tree = make_tree(session)
    district_publisher = make_user(session, "p3", Role.publisher, tree.district)
    town_publisher = make_user(session, "p4", Role.publisher, tree.town)
    in_branch = create_course(
        session=session, user=district_publisher, title="党课", org_id=tree.branch.id
    )
    # the district publisher edits the branch's course, yet a town course is a new one
    in_town = find_or_create_course(
        session=session, user=district_publisher, title=" 党课 ", org_id=tree.town.id
    )
    assert in_town.id != in_branch.id and in_town.org_id == tree.town.id
    assert (
        find_or_create_course(
            session=session, user=town_publisher, title="党课", org_id=tree.branch.id
        ).id
        == in_branch.id
    )
    outsider = make_user(session, "p5", Role.publisher, tree.other)
    with pytest.raises(PermissionDenied):  # the course exists, but not in the caller's reach
        find_or_create_course(session=session, user=outsider, title="党课", org_id=tree.branch.id)
    with pytest.raises(InvalidInput, match="201 characters"):
        find_or_create_course(
            session=session, user=district_publisher, title="党" * 201, org_id=tree.town.id
        )


def _ready_lesson(session: Session, course_id: int, *, status: LessonStatus) -> Lesson:
    lesson = Lesson(
        course_id=course_id, title="第一课", status=status, source_key="k", duration=600.0
    )
    session.add(lesson)
    session.commit()
    return lesson


def test_unfinished_lessons_are_only_for_editors(session: Session) -> None:
    tree, ids = _courses(session)
    member = make_user(session, "m1", Role.member, tree.branch)
    publisher = make_user(session, "p2", Role.publisher, tree.district)
    lesson = _ready_lesson(session, ids["public"], status=LessonStatus.processing)
    with pytest.raises(NotFound):
        get_lesson(session=session, user=member, lesson_id=lesson.id)
    assert get_lesson(session=session, user=publisher, lesson_id=lesson.id).id == lesson.id


def test_credit_hours_by_hand_and_resume_position(session: Session) -> None:
    tree, ids = _courses(session)
    member = make_user(session, "m1", Role.member, tree.branch)
    publisher = make_user(session, "p2", Role.publisher, tree.town)
    lesson = _ready_lesson(session, ids["town"], status=LessonStatus.ready)
    with pytest.raises(PermissionDenied):
        update_lesson(session=session, user=member, lesson=lesson, credit_hours=1.0)
    with pytest.raises(InvalidInput):
        update_lesson(session=session, user=publisher, lesson=lesson, credit_hours=1.2)
    update_lesson(session=session, user=publisher, lesson=lesson, credit_hours=1.5)
    assert lesson.credit_hours == 1.5 and lesson.credit_hours_set_by_hand

    assert resume_position(session=session, user=member, lesson=lesson) == 0.0
    save_position(session=session, user=member, lesson=lesson, seconds=123.4)
    assert resume_position(session=session, user=member, lesson=lesson) == 123.4
    save_position(session=session, user=member, lesson=lesson, seconds=10_000)
    assert resume_position(session=session, user=member, lesson=lesson) == 0.0  # finished: restart


def test_parallel_first_position_saves_never_fail(session: Session) -> None:
    """Several tabs save the first position of the same lesson at once: each save succeeds and
    one row holds a value one of them sent (no read-then-insert race on the unique index)."""
    tree, ids = _courses(session)
    member = make_user(session, "m1", Role.member, tree.branch)
    lessons = [_ready_lesson(session, ids["public"], status=LessonStatus.ready) for _ in range(6)]
    tabs = 8

    for lesson in lessons:
        start = threading.Barrier(tabs)

        def save(seconds: float, lesson: Lesson = lesson, start: threading.Barrier = start) -> None:
            start.wait()
            with session_scope() as own:
                save_position(session=own, user=member, lesson=lesson, seconds=seconds)

        with ThreadPoolExecutor(tabs) as pool:
            outcomes = [pool.submit(save, float(10 + n)) for n in range(tabs)]
            for outcome in outcomes:
                outcome.result()  # raises here if any save failed
        rows = session.scalars(
            select(PlaybackPosition.seconds).where(PlaybackPosition.lesson_id == lesson.id)
        ).all()
        assert len(rows) == 1 and rows[0] in {float(10 + n) for n in range(tabs)}
