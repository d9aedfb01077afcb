"""Catalog search: course and lesson titles and descriptions, Chinese substrings, literal % and _,
the same on SQLite and PostgreSQL."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.people.models import Role
from courseware.catalog import like_pattern, list_courses
from courseware.models import Lesson, LessonStatus, Visibility
from courseware.service import create_course
from tests.factories import log_in, make_tree, make_user
from web.app import create_app


@pytest.fixture
def library(session: Session) -> None:
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    make_user(session, "member", Role.member, tree.branch)

    def course(title: str, description: str = "", org: int = tree.town.id) -> int:
        made = create_course(
            session=session,
            user=publisher,
            title=title,
            description=description,
            org_id=org,
            visibility=Visibility.public,
        )
        return made.id

    course("学习贯彻党章")
    course("乡村振兴实用技术", description="果树管理与 50% 增产经验")
    course("Party History", description="an ENGLISH course")
    course("下划线_课程")
    with_lessons = course("每月一课")
    session.add_all(
        [
            Lesson(
                course_id=with_lessons,
                title="第一讲：党员的权利和义务",
                description="逐条讲解党章第四条",
                status=LessonStatus.ready,
                source_key="a",
            ),
            Lesson(
                course_id=with_lessons,
                title="未完成的讲座：基层治理",
                status=LessonStatus.processing,
                source_key="b",
            ),
        ]
    )
    session.commit()


def _found(session: Session, query: str) -> list[str]:
    return sorted(c.title for c in list_courses(session=session, user=None, query=query))


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("党章", ["学习贯彻党章", "每月一课"]),  # a course title and a lesson description
        ("权利和义务", ["每月一课"]),  # a lesson title
        ("增产", ["乡村振兴实用技术"]),  # a course description
        ("party history", ["Party History"]),  # ASCII case folds on both engines
        ("english", ["Party History"]),
        ("50%", ["乡村振兴实用技术"]),  # % is a character, not "anything"
        ("%", ["乡村振兴实用技术"]),
        ("_", ["下划线_课程"]),  # so is _
        ("\\", []),
        ("基层治理", []),  # only lessons members may watch lead to their course
        ("  党章  ", ["学习贯彻党章", "每月一课"]),
        (
            "\x00",
            sorted(
                ["学习贯彻党章", "乡村振兴实用技术", "Party History", "下划线_课程", "每月一课"]
            ),
        ),
    ],
)
def test_search(session: Session, library: None, query: str, titles: list[str]) -> None:
    assert _found(session, query) == titles


def test_like_pattern_escapes_its_wildcards() -> None:
    assert like_pattern("50%_a\\b") == "%50\\%\\_a\\\\b%"


def test_the_catalog_page_and_api_search_alike(library: None) -> None:
    with TestClient(create_app()) as client:
        log_in(client, "member")
        page = client.get("/", params={"q": "党章"}).text
        assert "学习贯彻党章" in page and "每月一课" in page and "乡村振兴" not in page
        found = client.get("/api/courses", params={"q": "50%"}).json()
        assert [c["title"] for c in found] == ["乡村振兴实用技术"]
