"""Property-based checks of the JSON API from its own OpenAPI schema: no input makes it fail."""

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy.orm import Session

from core.people.models import Role
from courseware.models import Lesson, LessonStatus, Visibility
from courseware.service import create_course
from tests.factories import make_tree, make_user
from web.app import create_app

app = create_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture
def world(session: Session) -> Iterator[None]:
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    course = create_course(
        session=session,
        user=publisher,
        title="公开课",
        org_id=tree.town.id,
        visibility=Visibility.public,
    )
    session.add(
        Lesson(course=course, title="一", status=LessonStatus.ready, source_key="x", duration=60)
    )
    session.commit()
    yield


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_never_fails_on_any_input(case: schemathesis.Case, world: None) -> None:
    case.call_and_validate(checks=[not_a_server_error])
