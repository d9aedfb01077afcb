"""Every route of the reports (API, pages, exports) against every role and org scope.

Callers: anonymous; a member and a publisher (no admin rights); "runner", a member who runs the
site (站点管理员: reads its card, no administration); "adm", org admin of the town above the
site; "far", org admin of an unrelated district; "root", platform admin.
"""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import token_for
from tests.terminals.reports_data import make_world

CALLERS = [None, "member", "pub", "runner", "adm", "far", "root"]


def by(
    anon: int, member: int, pub: int, runner: int, adm: int, far: int, root: int
) -> dict[str | None, int]:
    return dict(zip(CALLERS, (anon, member, pub, runner, adm, far, root), strict=True))


ADMIN_API = by(401, 403, 403, 403, 200, 200, 200)
ADMIN_PAGE = by(303, 403, 403, 403, 200, 200, 200)
SITE_API = by(401, 404, 404, 200, 200, 404, 200)
SITE_PAGE = by(303, 403, 403, 403, 200, 404, 200)
TOWN_API = by(401, 403, 403, 403, 200, 404, 200)
TOWN_PAGE = by(303, 403, 403, 403, 200, 404, 200)
OWN_PAGE = by(303, 403, 403, 200, 403, 403, 403)

ROUTES = [
    ("/api/reports/cards", ADMIN_API),
    ("/api/reports/cards?year=2026&month=11&tier=basic", ADMIN_API),
    ("/api/reports/cards?org_id={town}", TOWN_API),
    ("/api/reports/sites/{site}/card", SITE_API),
    ("/api/reports/sites/{site}/card?year=2026&month=10", SITE_API),
    ("/api/reports/rankings", ADMIN_API),
    ("/api/reports/rankings?org_id={town}&year=2026&month=11", TOWN_API),
    ("/admin/reports", ADMIN_PAGE),
    ("/admin/reports?month=2026-11&org_id={town}&tier=basic", TOWN_PAGE),
    ("/admin/reports/sites/{site}?month=2026-11", SITE_PAGE),
    ("/admin/reports/rankings?month=2026-11", ADMIN_PAGE),
    ("/admin/reports/export.csv?month=2026-11", ADMIN_PAGE),
    ("/admin/reports/export.xlsx?org_id={town}", TOWN_PAGE),
    ("/admin/reports/rankings/export.csv", ADMIN_PAGE),
    ("/admin/reports/rankings/export.xlsx?org_id={town}", TOWN_PAGE),
    ("/site/report", OWN_PAGE),
    ("/site/report?month=2026-10", OWN_PAGE),
]


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_for_every_caller(
    caller: str | None, client: TestClient, session: Session
) -> None:
    world = make_world(session)
    ids = {"site": world.site.id, "town": world.tree.town.id}
    token = token_for(client, caller)
    failures = []
    for template, expected in ROUTES:
        path = template.format(**ids)
        headers = {"Accept": "text/html"} if not path.startswith("/api/") else {}
        response = client.get(path, headers=headers, follow_redirects=False)
        if response.status_code != expected[caller]:
            failures.append(f"{caller} GET {path}: {response.status_code} != {expected[caller]}")
    assert not failures, "\n".join(failures)
    del token
