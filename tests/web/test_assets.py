"""Static files: hashed addresses in pages, year-long caching, brotli/gzip/identity negotiation
from the copies `make assets` builds, 404 for anything else, and modules loaded by hashed address
in a browser."""

import gzip
import json
import re
from pathlib import Path

import brotli
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Request, expect
from sqlalchemy.orm import Session

from core.people.models import Role
from tests.factories import make_tree, make_user
from tests.web.test_browser import browser, log_in, page, playwright, server  # noqa: F401
from web.assets import IMMUTABLE, STATIC_DIR, AssetIndex, accepted_encoding, build_precompressed

HASHED = re.compile(r"^/static/(?P<stem>.+)\.[0-9a-f]{8}(?P<suffix>\.[a-z]+)$")


def _raw(client: TestClient, url: str, accept_encoding: str) -> tuple[dict[str, str], bytes]:
    """Headers and the body exactly as sent (not decoded by the client)."""
    with client.stream("GET", url, headers={"accept-encoding": accept_encoding}) as response:
        assert response.status_code == 200, url
        return dict(response.headers), b"".join(response.iter_raw())


def _asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


def test_pages_name_hashed_addresses_cached_for_a_year(client: TestClient) -> None:
    urls = _asset_urls(client.get("/login").text)
    assert any(re.match(r"^/static/app\.[0-9a-f]{8}\.css$", url) for url in urls), urls
    assert any(re.match(r"^/static/favicon\.[0-9a-f]{8}\.svg$", url) for url in urls), urls
    for url in urls:
        assert HASHED.match(url), url
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["vary"] == "Accept-Encoding"
        match = HASHED.match(url)
        assert match is not None
        original = (STATIC_DIR / f"{match['stem']}{match['suffix']}").read_bytes()
        assert response.content == original  # decoded by the client


def test_the_import_map_sends_module_imports_to_hashed_addresses(client: TestClient) -> None:
    html = client.get("/login").text
    found = re.search(r'<script type="importmap">(.*?)</script>', html)
    assert found is not None
    imports = json.loads(found[1])["imports"]
    assert re.match(r"^/static/js/api\.[0-9a-f]{8}\.js$", imports["/static/js/api.js"])
    assert client.get(imports["/static/js/api.js"]).headers["cache-control"] == IMMUTABLE
    # the policy allows this inline script by its hash, and no other
    policy = client.get("/login").headers["content-security-policy"]
    assert AssetIndex().import_map_source in policy and "'unsafe-inline'" not in policy


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=1.0, br;q=0.5", "gzip"),
        ("*", "br"),
        ("", None),
        ("identity", None),
        ("deflate", None),
    ],
)
def test_the_body_follows_accept_encoding(client: TestClient, accept: str, encoding: str) -> None:
    original = (STATIC_DIR / "vendor" / "hls.light.min.js").read_bytes()
    url = AssetIndex().url("vendor/hls.light.min.js")
    headers, body = _raw(client, url, accept)
    assert headers.get("content-encoding") == encoding
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert int(headers["content-length"]) == len(body)
    assert headers["vary"] == "Accept-Encoding"
    unpack = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[encoding]
    assert unpack(body) == original
    if encoding is not None:
        assert len(body) < len(original) / 3


def test_brotli_is_smaller_than_gzip_for_every_built_script(client: TestClient) -> None:
    for name in ("vendor/hls.light.min.js", "vendor/swagger-ui/swagger-ui-bundle.js", "app.css"):
        url = AssetIndex().url(name)
        _, br = _raw(client, url, "br")
        _, gz = _raw(client, url, "gzip")
        assert len(br) < len(gz), name


def test_the_plain_name_still_works_but_is_revalidated(client: TestClient) -> None:
    response = client.get("/static/js/api.js")
    assert response.status_code == 200
    assert response.content == (STATIC_DIR / "js" / "api.js").read_bytes()
    assert response.headers["cache-control"] == "no-cache"
    etag = response.headers["etag"]
    again = client.get("/static/js/api.js", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    # a hash of an older content (a page from the last release) gets today's file, revalidated
    stale = client.get("/static/js/api.00000000.js")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    assert stale.content == response.content


def test_unknown_and_traversal_paths_are_not_found(client: TestClient) -> None:
    for path in (
        "/static/nope.js",
        "/static/js/nope.0123abcd.js",
        "/static/..%2fapp.py",
        "/static/js/..%2f..%2fapp.py",
        "/static/%2e%2e/%2e%2e/core/settings.py",
        "/static/precompressed/app.css.br",
        "/static/",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"SECRET" not in response.content and b"import" not in response.content
    assert client.post("/static/app.css").status_code == 405
    head = client.head(AssetIndex().url("app.css"), headers={"accept-encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == (STATIC_DIR / "app.css").stat().st_size


def test_favicon_answers(client: TestClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg")


def test_accepted_encoding_prefers_brotli_and_respects_weights() -> None:
    both = {"identity": b"", "br": b"", "gzip": b""}
    assert accepted_encoding("gzip, br", both) == "br"
    assert accepted_encoding("gzip;q=0.9, br;q=0.8", both) == "gzip"
    assert accepted_encoding("br;q=0, gzip;q=0", both) == "identity"
    assert accepted_encoding("BR", both) == "br"
    assert accepted_encoding("br", {"identity": b"", "gzip": b""}) == "identity"
    assert accepted_encoding("br;q=oops, gzip", both) == "gzip"


def test_the_build_writes_copies_of_the_current_content_only(tmp_path: Path) -> None:
    script = tmp_path / "js" / "a.js"
    script.parent.mkdir()
    script.write_text("export const a = 1;\n" * 200)
    (tmp_path / "tiny.txt").write_text("x")
    (tmp_path / "image.png").write_bytes(b"\x89PNG" + bytes(2000))
    assert build_precompressed(tmp_path) == 2  # brotli and gzip of a.js; tiny.txt would grow
    assert build_precompressed(tmp_path) == 0  # nothing changed: nothing rebuilt
    first = AssetIndex(tmp_path)
    assert set(first.assets["js/a.js"].bodies) == {"identity", "br", "gzip"}
    assert set(first.assets["image.png"].bodies) == {"identity"}
    assert first.assets["image.png"].media_type == "image/png"
    old_url = first.url("js/a.js")
    script.write_text("export const a = 2;\n" * 200)
    # an edited file has no copy of its new content until the next build: sent as it is
    assert set(AssetIndex(tmp_path).assets["js/a.js"].bodies) == {"identity"}
    assert build_precompressed(tmp_path) == 2
    rebuilt = AssetIndex(tmp_path)
    assert rebuilt.url("js/a.js") != old_url
    assert brotli.decompress(rebuilt.assets["js/a.js"].bodies["br"]) == script.read_bytes()
    copies = sorted(p.name for p in (tmp_path / "precompressed" / "js").iterdir())
    digest = rebuilt.assets["js/a.js"].digest
    assert copies == [f"a.{digest}.js.br", f"a.{digest}.js.gz"]  # the old ones are gone


@pytest.mark.browser
def test_a_page_loads_its_modules_by_hashed_address(
    server: str,  # noqa: F811
    page: Page,  # noqa: F811
    session: Session,
) -> None:
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    errors: list[str] = []
    page.on("console", lambda note: errors.append(note.text) if note.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    loaded: list[str] = []

    def record(request: Request) -> None:
        if "/static/" in request.url:
            loaded.append(request.url.removeprefix(server))

    page.on("request", record)
    log_in(page, server, "pub")
    page.goto(f"{server}/upload")
    expect(page.get_by_label("视频或音频文件")).to_be_visible()
    page.wait_for_load_state("networkidle")
    matches = [HASHED.match(url) for url in loaded]
    assert all(matches), loaded  # no plain name fetched
    stems = {match["stem"] for match in matches if match is not None}
    assert {"js/upload", "js/api", "vendor/tus.min", "app", "favicon"} <= stems, loaded
    assert not errors, errors
