"""Builders of test data shared by the test modules."""

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy.orm import Session

from core.people.models import Organisation, OrgKind, Role, User
from core.people.service import create_org, grant_role
from core.security import id_check_digit
from core.storage import get_store
from courseware.ingest import ingest_lesson
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


@lru_cache
def _password_hash() -> str:
    """The shared password, hashed once with argon2id at its lowest cost. Verification reads
    the cost from the hash, so each of the suite's many logins takes milliseconds rather than a
    good part of a second; the product's own cost is unchanged and tested in test_passwords."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


def make_user(session: Session, login: str, role: Role, org: Organisation) -> User:
    """A committed user holding `role` on `org`, with the shared test password."""
    user = User(login=login, display_name=login, password_hash=_password_hash())
    session.add(user)
    session.flush()
    grant_role(session=session, user=user, role=role, org_id=org.id)
    session.commit()
    return user


def make_callers(session: Session, tree: Tree) -> dict[str, User]:
    """The accounts an access test calls every route as, by login: a member of the first branch,
    a publisher and an org admin ("adm") of the town, an org admin of the unrelated district
    ("far") and a platform admin ("root")."""
    return {
        "member": make_user(session, "member", Role.member, tree.branch),
        "pub": make_user(session, "pub", Role.publisher, tree.town),
        "adm": make_user(session, "adm", Role.org_admin, tree.town),
        "far": make_user(session, "far", Role.org_admin, tree.other),
        "root": make_user(session, "root", Role.platform_admin, tree.district),
    }


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


def ingest(
    publisher: User, course_id: int, source: Path, title: str, upload_id: str | None = None
) -> Lesson:
    """A lesson ingested from a media file as an upload makes it (detached); its transcode job is
    committed but not queued, for the test to run it."""
    return ingest_lesson(
        store=get_store(),
        user_id=publisher.id,
        course=lambda session, _user: session.get_one(Course, course_id),
        title=title,
        source=source,
        filename=source.name,
        upload_id=upload_id,
        enqueue_job=False,
    )


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


def id_number(serial: int) -> str:
    """A valid (checksummed) citizen ID number, different for every `serial` below 1000."""
    first17 = f"1101051980{(serial // 1000) % 100:02d}01{serial % 1000:03d}"
    return first17 + id_check_digit(first17)


def roster_xlsx(rows: list[list[object]]) -> bytes:
    """An XLSX workbook whose first sheet holds `rows` (the first one being the headings)."""
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def roster_csv(rows: list[list[object]], encoding: str = "utf-8") -> bytes:
    """A CSV file of `rows`, as spreadsheet software saves one."""
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)
