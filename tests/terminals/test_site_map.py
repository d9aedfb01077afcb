"""The site map's data and its routes: what each state means, the filters, and every route of
the map's router against every role and org scope."""

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.db import utcnow
from core.people.models import Role, User
from terminals.sites import map as site_map_module
from terminals.sites.map import SiteState, located, site_map
from terminals.sites.models import Site, SiteAdministrator, SiteDevice, SiteStatus
from tests.factories import Tree, make_callers, make_tree, make_user, token_for

CALLERS = [None, "member", "pub", "adm", "far", "root"]


@dataclass
class World:
    tree: Tree
    callers: dict[str, User]
    sites: dict[str, Site]


def _site(session: Session, code: str, org_id: int, **fields: object) -> Site:
    site = Site(code=code, name=f"站点{code[-3:]}", org_id=org_id, **({"tier": "basic"} | fields))
    session.add(site)
    session.flush()
    return site


def _device(session: Session, site: Site, seen_ago: timedelta, **fields: object) -> None:
    session.add(
        SiteDevice(
            site_id=site.id,
            token_hash=f"token-{site.id}-{'revoked' if fields else 'current'}",
            last_seen_at=utcnow() - seen_ago,
            **fields,
        )
    )


@pytest.fixture
def world(session: Session) -> World:
    """Sites in the town's subtree in every state (one without coordinates), and one in the
    unrelated district."""
    tree = make_tree(session)
    callers = make_callers(session, tree)
    here = {"latitude": 29.56, "longitude": 106.55}
    sites = {
        "online": _site(session, "500101001001", tree.branch.id, status=SiteStatus.active, **here),
        "offline": _site(
            session, "500101001002", tree.sibling.id, status=SiteStatus.active, **here
        ),
        "never": _site(session, "500101001003", tree.town.id, status=SiteStatus.approved, **here),
        "registered": _site(session, "500101001004", tree.branch.id, tier="premium"),
        "suspended": _site(
            session, "500101001005", tree.town.id, status=SiteStatus.suspended, **here
        ),
        "far": _site(session, "510101001001", tree.other.id, status=SiteStatus.active, **here),
    }
    _device(session, sites["online"], timedelta(minutes=2))
    # an older device was revoked after a recent heartbeat: it no longer counts
    _device(session, sites["offline"], timedelta(hours=3))
    _device(session, sites["offline"], timedelta(seconds=5), revoked_at=utcnow())
    _device(session, sites["suspended"], timedelta(minutes=1))
    _device(session, sites["far"], timedelta(minutes=1))
    session.commit()
    return World(tree, callers, sites)


def test_each_site_gets_its_state_and_counts(session: Session, world: World) -> None:
    found = site_map(session=session, actor=world.callers["adm"])
    states = {site.code: site.state for site in found.sites}
    assert states == {
        "500101001001": SiteState.online,
        "500101001002": SiteState.offline,
        "500101001003": SiteState.never,
        "500101001004": SiteState.registered,
        "500101001005": SiteState.suspended,
    }
    assert found.counts == {state: 1 for state in SiteState}
    assert [site.code for site in found.unlocated] == ["500101001004"]


def test_the_map_is_the_province_of_the_sites_or_the_country(
    session: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def region(who: str, state: SiteState | None = None) -> str:
        return site_map(session=session, actor=world.callers[who], state=state).region

    assert region("adm") == "chong_qing"  # every located site's code begins with 50
    assert region("far") == "si_chuan"
    assert region("root") == "china"  # 50 and 51
    assert region("root", state=SiteState.registered) == "china"  # no site is located
    monkeypatch.setattr(site_map_module.get_settings(), "map_region", "gui_zhou")
    assert region("adm") == region("root") == "gui_zhou"


def test_every_province_map_is_vendored_under_its_code() -> None:
    """Each file's features are that province's prefectures or counties (their ids begin with
    the province's code), and the country's file has every province."""
    maps = Path(site_map_module.__file__).parents[2] / "web" / "static" / "vendor" / "maps"
    for code, name in site_map_module.PROVINCE_MAPS.items():
        features = json.loads((maps / f"{name}.json").read_text())["features"]
        ids = {str(feature.get("id") or feature["properties"].get("id")) for feature in features}
        assert all(found.startswith(code) for found in ids), (name, code, ids)
    country = json.loads((maps / "china.json").read_text())["features"]
    provinces = {str(feature.get("id") or feature["properties"]["id"]) for feature in country}
    assert set(site_map_module.PROVINCE_MAPS) <= provinces


def test_coordinates_must_be_on_the_earth() -> None:
    assert located(29.5, 106.5) and located(-90, 180)
    assert not located(None, 106.5) and not located(29.5, None)
    assert not located(91, 106.5) and not located(29.5, -181)


def test_json_has_every_field_the_map_needs(client: TestClient, world: World) -> None:
    token_for(client, "adm")
    body = client.get("/api/sites/map").json()
    assert body["total"] == 5 and body["region"] == "chong_qing"
    assert body["counts"] == {state.value: 1 for state in SiteState}
    online = next(site for site in body["sites"] if site["code"] == "500101001001")
    assert online == {
        "id": world.sites["online"].id,
        "code": "500101001001",
        "name": "站点001",
        "tier": "basic",
        "org_id": world.tree.branch.id,
        "org_name": "第一支部",
        "status": "active",
        "state": "online",
        "last_seen_at": online["last_seen_at"],
        "latitude": 29.56,
        "longitude": 106.55,
        "located": True,
        "url": f"/admin/sites/{world.sites['online'].id}",
    }
    assert online["last_seen_at"] is not None
    registered = next(site for site in body["sites"] if site["state"] == "registered")
    assert registered["located"] is False and registered["last_seen_at"] is None


def test_filters_narrow_the_sites_and_the_counts(client: TestClient, world: World) -> None:
    token_for(client, "adm")

    def codes(query: str) -> list[str]:
        body = client.get(f"/api/sites/map?{query}").json()
        assert body["total"] == len(body["sites"]) == sum(body["counts"].values())
        return [site["code"][-3:] for site in body["sites"]]

    assert codes(f"org_id={world.tree.general.id}") == ["001", "002", "004"]
    assert codes(f"org_id={world.tree.sibling.id}") == ["002"]
    assert codes("tier=premium") == ["004"]
    assert codes("state=offline") == ["002"]
    assert codes(f"org_id={world.tree.branch.id}&tier=basic&state=online") == ["001"]
    assert codes("state=suspended&tier=premium") == []


def test_bad_filters_are_refused_with_a_reason(client: TestClient, world: World) -> None:
    token_for(client, "adm")
    cases = {
        "tier=gold": (400, "gold"),
        "state=asleep": (422, "state"),
        "org_id=0": (422, "org_id"),
        "org_id=abc": (422, "org_id"),
        f"org_id={world.tree.other.id}": (404, str(world.tree.other.id)),
        "org_id=999999": (404, "999999"),
    }
    for query, (status, named) in cases.items():
        response = client.get(f"/api/sites/map?{query}")
        assert response.status_code == status, (query, response.text)
        assert named in response.json()["detail"], (query, response.text)


def test_a_site_administrator_who_is_also_an_admin_sees_their_own_site(
    session: Session, client: TestClient, world: World
) -> None:
    runner = make_user(session, "runner", Role.org_admin, world.tree.sibling)
    session.add(SiteAdministrator(site_id=world.sites["far"].id, user_id=runner.id))
    session.commit()
    token_for(client, "runner")
    body = client.get("/api/sites/map").json()
    assert [site["code"] for site in body["sites"]] == ["500101001002", "510101001001"]


def test_the_page_lists_sites_without_coordinates_and_all_sites(
    client: TestClient, world: World
) -> None:
    token_for(client, "adm")
    page = client.get("/admin/sites/map").text
    aside = page.split('class="unlocated"')[1].split("</aside>")[0]
    assert "站点004" in aside and "站点001" not in aside
    table = page.split('id="site-table-heading"')[1]
    for name in ("站点001", "站点002", "站点003", "站点004", "站点005"):
        assert f">{name}</a>" in table
    assert "510101001001" not in page
    assert 'data-count="online">1<' in page
    # a filter keeps its choice and reaches the JSON the chart loads
    filtered = client.get("/admin/sites/map?state=registered&tier=premium").text
    assert 'data-api="/api/sites/map?tier=premium&amp;state=registered"' in filtered
    assert '<option value="registered" selected>' in filtered
    # the page ignores a filter it does not know rather than failing
    assert client.get("/admin/sites/map?state=asleep&tier=gold&org_id=x").status_code == 200


def test_an_unknown_map_region_is_the_operators_mistake(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_for(client, "root")
    settings = site_map_module.get_settings()
    monkeypatch.setattr(settings, "map_region", "atlantis")
    response = client.get("/admin/sites/map")
    assert response.status_code == 503
    assert "atlantis" not in response.text  # the log names it, the visitor gets the request id


# Every route of the router, against every caller; the sites each admin sees.
ROUTES = {
    "/api/sites/map": {None: 401, "member": 403, "pub": 403, "adm": 200, "far": 200, "root": 200},
    "/admin/sites/map": {
        None: 303,
        "member": 403,
        "pub": 403,
        "adm": 200,
        "far": 200,
        "root": 200,
    },
    "/api/sites/map?org_id={town}": {
        None: 401,
        "member": 403,
        "pub": 403,
        "adm": 200,
        "far": 404,
        "root": 200,
    },
    "/admin/sites/map?org_id={town}&tier=basic&state=online": {
        None: 303,
        "member": 403,
        "pub": 403,
        "adm": 200,
        "far": 404,
        "root": 200,
    },
}
SEEN = {
    "adm": {"500101001001", "500101001002", "500101001003", "500101001004", "500101001005"},
    "far": {"510101001001"},
    "root": {
        "500101001001",
        "500101001002",
        "500101001003",
        "500101001004",
        "500101001005",
        "510101001001",
    },
}


def test_every_route_is_in_the_matrix() -> None:
    paths = {route.path for route in site_map_module.router.routes if isinstance(route, APIRoute)}
    assert paths == {route.split("?")[0] for route in ROUTES}


@pytest.mark.parametrize("who", CALLERS)
def test_routes(client: TestClient, world: World, who: str | None) -> None:
    token_for(client, who)
    wrong = []
    for route, expected in ROUTES.items():
        url = route.format(town=world.tree.town.id)
        status = client.get(url, follow_redirects=False).status_code
        if status != expected[who]:
            wrong.append((url, status, expected[who]))
    assert not wrong, wrong
    if who in SEEN:
        body = client.get("/api/sites/map").json()
        assert {site["code"] for site in body["sites"]} == SEEN[who]
        page = client.get("/admin/sites/map").text
        for code in SEEN["root"]:
            assert (code in page) == (code in SEEN[who]), code
