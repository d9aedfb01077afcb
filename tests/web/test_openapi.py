"""Property-based checks of the JSON API from its own OpenAPI schema: no input makes it fail, for
an anonymous caller and for each role, each with a session and a CSRF token of its own.

Every operation gets schemathesis' examples and generated inputs as each caller. The boundary
values of every parameter and body field (the "coverage" phase: a few dozen requests per
operation) are sent as the platform admin, the one caller no scope check turns away before the
handler reads the input; repeating them for every other role multiplied the suite's longest file
by five without reaching any more code.
"""

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from sqlalchemy.orm import Session

from core.people.models import Role
from tests.factories import log_in, make_course, make_lesson, make_tree, make_user
from web.app import create_app

pytestmark = pytest.mark.fuzz
app = create_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
without_boundaries = schemathesis.openapi.from_asgi(
    "/openapi.json",
    app,
    config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}}),
)
ROLES = [None, Role.member, Role.publisher, Role.org_admin]  # the platform admin: below


@pytest.fixture
def caller(session: Session, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """A small world, and the headers of a logged-in session for the role under test."""
    role: Role | None = request.param
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    make_lesson(session, make_course(session, publisher, tree.town))
    if role is None:
        yield {}
        return
    org = {Role.member: tree.branch, Role.org_admin: tree.town}.get(role, tree.district)
    login = "pub" if role is Role.publisher else f"as-{role.value}"
    if role is not Role.publisher:
        make_user(session, login, role, org)
    yield logged_in(login)


def logged_in(login: str) -> dict[str, str]:
    """The headers that carry `login`'s session: its cookie and its CSRF token."""
    with TestClient(app) as client:
        token = log_in(client, login)
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    return {"Cookie": cookie, "X-CSRF-Token": token}


def test_the_headers_alone_carry_the_login(session: Session) -> None:
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    headers = logged_in("pub")
    with TestClient(app) as fresh:
        assert fresh.get("/api/uploads/none", headers=headers).status_code == 404
        assert fresh.get("/api/uploads/none").status_code == 401


def fuzz(examples: int) -> settings:
    """Hypothesis' settings for `examples` generated inputs per operation and caller."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


@pytest.mark.parametrize(
    "caller", ROLES, ids=lambda role: role.value if role else "anonymous", indirect=True
)
@without_boundaries.parametrize()
@fuzz(5)  # as each of four callers
def test_api_never_fails_on_any_input(case: schemathesis.Case, caller: dict[str, str]) -> None:
    case.call_and_validate(headers=caller, checks=[not_a_server_error])


@pytest.mark.parametrize("caller", [Role.platform_admin], ids=["platform_admin"], indirect=True)
@schema.parametrize()
@fuzz(8)
def test_api_never_fails_on_boundary_values(
    case: schemathesis.Case, caller: dict[str, str]
) -> None:
    case.call_and_validate(headers=caller, checks=[not_a_server_error])
