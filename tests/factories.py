"""Builders of test data shared by the test modules."""

from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.people.models import Organisation, OrgKind, Role, User
from core.people.service import create_org, create_user, grant_role
from courseware.models import Course, Lesson, LessonStatus, Visibility
from courseware.service import create_course

PASSWORD = "correct-horse-9"


@dataclass
class Tree:
    """district → town committee → general branch → two branches, plus an unrelated district."""

    district: Organisation
    town: Organisation
    general: Organisation
    branch: Organisation
    sibling: Organisation
    other: Organisation


def make_tree(session: Session) -> Tree:
    """A small org tree, committed."""
    district = create_org(session=session, name="区委", kind=OrgKind.district)
    town = create_org(session=session, name="镇党委", kind=OrgKind.committee, parent_id=district.id)
    general = create_org(
        session=session, name="村党总支", kind=OrgKind.general_branch, parent_id=town.id
    )
    branch = create_org(session=session, name="第一支部", kind=OrgKind.branch, parent_id=general.id)
    sibling = create_org(
        session=session, name="第二支部", kind=OrgKind.branch, parent_id=general.id
    )
    other = create_org(session=session, name="邻区委", kind=OrgKind.district)
    session.commit()
    return Tree(district, town, general, branch, sibling, other)


def make_user(session: Session, login: str, role: Role, org: Organisation) -> User:
    """A committed user holding `role` on `org`, with the shared test password."""
    user = create_user(session=session, login=login, password=PASSWORD, display_name=login)
    grant_role(session=session, user=user, role=role, org_id=org.id)
    session.commit()
    return user


def make_course(
    session: Session,
    publisher: User,
    org: Organisation,
    title: str = "公开课",
    visibility: Visibility = Visibility.public,
) -> Course:
    """A committed course owned by `org`, created by `publisher`."""
    course = create_course(
        session=session, user=publisher, title=title, org_id=org.id, visibility=visibility
    )
    session.commit()
    return course


def make_lesson(
    session: Session,
    course: Course,
    title: str = "第一课",
    status: LessonStatus = LessonStatus.ready,
    duration: float = 60.0,
    credit_hours: float | None = None,
) -> Lesson:
    """A committed lesson row (no media behind it) for tests of rules, pages and access."""
    lesson = Lesson(
        course=course,
        title=title,
        status=status,
        source_key=f"lessons/x/source/{title}.mp4",
        duration=duration,
        credit_hours=credit_hours,
    )
    session.add(lesson)
    session.commit()
    return lesson


def csrf_token(client: TestClient) -> str:
    """The CSRF token of the client's session, read from a page as the browser would."""
    return client.get("/login").text.split('name="csrf-token" content="')[1].split('"')[0]


def token_for(client: TestClient, login: str | None) -> str:
    """Log in as `login` (or stay anonymous when None) and return the session's CSRF token."""
    return log_in(client, login) if login else csrf_token(client)


def log_in(client: TestClient, login: str) -> str:
    """Log `client` in through the form and return its CSRF token for later requests."""
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"login": login, "password": PASSWORD, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_token(client)
