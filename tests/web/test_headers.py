"""Web hygiene: security headers on every response, no inline script anywhere (the import map,
data allowed by its hash, aside), /metrics kept
from the public, and an API reference that needs no internet."""

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.people.models import Role
from core.settings import Settings, get_settings
from tests.factories import log_in, make_tree, make_user
from tests.s3 import free_port
from web.app import create_app
from web.headers import security_headers

WEB = Path(__file__).resolve().parents[2] / "web"
Configure = Callable[..., None]


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """Set YUANJIAO_* variables for this test (settings are read again)."""

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"YUANJIAO_{name.upper()}", value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {words[0]: words[1:] for words in directives}


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    responses = [
        client.get("/"),
        client.get("/login"),
        client.get("/static/app.css"),
        client.get("/api/courses"),
        client.get("/no/such/page"),
        client.get("/api/no/such"),
        client.get("/healthz"),
        client.get("/docs"),
        client.get("/lang/en", follow_redirects=False),
        client.post("/login", data={"login": "x", "password": "y", "csrf_token": "forged"}),
    ]
    for response in responses:
        headers = response.headers
        policy = _policy(headers["content-security-policy"])
        assert policy["script-src"][0] == "'self'", response.url
        assert all(source.startswith("'sha256-") for source in policy["script-src"][1:])
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["object-src"] == ["'none'"]
        assert "'unsafe-inline'" not in headers["content-security-policy"]
        assert "'unsafe-eval'" not in headers["content-security-policy"]
        assert "blob:" in policy["media-src"] and "blob:" in policy["worker-src"]  # hls.js
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in headers  # http: no HSTS


def test_hsts_when_the_site_is_served_over_https(configure: Configure) -> None:
    configure(base_url="https://edu.example.org")
    with TestClient(create_app(), base_url="https://edu.example.org") as client:
        hsts = client.get("/login").headers["strict-transport-security"]
    assert hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 180 * 86400


def test_players_may_fetch_from_the_s3_public_endpoint_only() -> None:
    settings = get_settings().model_copy(
        update={
            "storage_url": "s3://k:s@minio:9000/lessons?public_endpoint=https://media.example.org"
        }
    )
    policy = _policy(security_headers(settings)["Content-Security-Policy"])
    for directive in ("connect-src", "media-src", "img-src"):
        assert "https://media.example.org" in policy[directive]
    assert (
        "minio:9000" not in str(policy) and "https://media.example.org" not in policy["script-src"]
    )
    local = _policy(security_headers(get_settings())["Content-Security-Policy"])
    assert local["connect-src"] == ["'self'"]


class _Scripts(HTMLParser):
    """Collects inline scripts and event-handler attributes of a page or template."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        self.sources += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "script" and named.get("src") is None and named.get("type") != "importmap":
            self.inline.append(self.get_starttag_text() or "")


def _scan(html: str) -> _Scripts:
    parser = _Scripts()
    parser.feed(html)
    return parser


def test_no_template_or_script_has_inline_code(client: TestClient, session: Session) -> None:
    for template in WEB.glob("templates/**/*.html"):
        found = _scan(template.read_text())
        assert not found.inline and not found.handlers, (template, found.inline, found.handlers)
    for script in WEB.glob("static/js/*.js"):
        code = script.read_text()
        assert not re.search(r"\.on[a-z]+\s*=|setAttribute\(\s*['\"]on|eval\(|new Function", code)
        assert "innerHTML" not in code, script
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    log_in(client, "pub")
    for path in ("/", "/upload", "/login", "/docs", "/no/such/page"):
        found = _scan(client.get(path).text)
        assert not found.inline and not found.handlers, (path, found.inline)


def test_metrics_are_for_platform_admins(client: TestClient, session: Session) -> None:
    tree = make_tree(session)
    make_user(session, "member", Role.member, tree.branch)
    make_user(session, "admin", Role.platform_admin, tree.district)
    anonymous = client.get("/metrics", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert client.get("/metrics", headers={"accept": "application/json"}).status_code == 401
    token = log_in(client, "member")
    refused = client.get("/metrics")
    assert refused.status_code == 403 and "python_info" not in refused.text
    client.post("/logout", data={"csrf_token": token})
    log_in(client, "admin")
    allowed = client.get("/metrics")
    assert allowed.status_code == 200 and "python_info" in allowed.text


def test_metrics_on_a_listener_of_their_own(configure: Configure) -> None:
    port = free_port()
    configure(metrics_address=f"127.0.0.1:{port}")
    with TestClient(create_app()) as client:
        assert client.get("/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200 and "python_info" in scraped.text
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)  # closed with the app


def test_a_malformed_metrics_address_is_refused(configure: Configure) -> None:
    with pytest.raises(Exception, match="YUANJIAO_METRICS_ADDRESS"):
        configure(metrics_address="9100")
        get_settings()
    assert Settings(metrics_address="[::1]:9100").metrics_address == "[::1]:9100"


def test_api_docs_need_no_internet(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    found = _scan(page.text)
    assert found.sources, page.text
    for source in found.sources:
        assert source.startswith("/static/"), source  # nothing from a CDN
        asset = client.get(source)
        assert asset.status_code == 200 and len(asset.content) > 100, source
        assert "immutable" in asset.headers["cache-control"], source  # hashed addresses
    assert any("/swagger-ui-bundle." in source for source in found.sources)
    assert client.get("/openapi.json").json()["info"]["title"] == "yuanjiao 远教"
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN: it is off
