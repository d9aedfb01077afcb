"""Static files: content-hashed addresses cached for a year, gzip and brotli made at build time,
answered from memory before sessions, routing or the database are involved.

Build time (`python -m web.assets`, run by `make assets` and the Dockerfile): every compressible
file under web/static gets a gzip and a brotli copy in web/static/precompressed/, named after a
hash of its content (`js/player.3f2a9c1b.js.br`). A copy whose source has changed since no longer
matches any hash and is never served; the next build removes it.

Serve time (`AssetIndex`, `StaticAssets`): the files are read once when the app starts. A page
names a file through `static_url("js/player.js")`, which gives `/static/js/player.<hash>.js`,
answered with `Cache-Control: immutable` for a year. The plain name (`/static/js/player.js`)
and a hash of an older content (a page from the previous release) still get the current file,
revalidated on every use (`no-cache` with an ETag). The body is brotli when the client accepts
it, else gzip, else the file itself, with `Vary: Accept-Encoding`.

The scripts are ES modules that import each other by plain address (`/static/js/api.js`). An
import map in base.html sends those imports to the hashed addresses, so the files stay the bytes
that were hashed and a browser without import maps still loads the plain names. The map is an
inline script: its hash goes into the Content-Security-Policy (`import_map_source`).
"""

import base64
import gzip
import hashlib
import json
import logging
import mimetypes
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import brotli
from markupsafe import Markup
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/static/"
# Where the build puts the compressed copies, under the static directory (never served as is).
PRECOMPRESSED = "precompressed"
COMPRESSIBLE = frozenset({".js", ".mjs", ".css", ".svg", ".json", ".map", ".txt", ".html"})
# In the order they are preferred when a client accepts both: brotli is ~15-20% smaller.
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
HASHED_NAME = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{8})(?P<suffix>\.[^./]+)$")


def content_hash(data: bytes) -> str:
    """The 8 hex digits of a file's SHA-256 that go into its address."""
    return hashlib.sha256(data).hexdigest()[:8]


def hashed_name(name: str, digest: str) -> str:
    """`js/player.js` as `js/player.<digest>.js` (the hash before the last suffix)."""
    path = PurePosixPath(name)
    return str(path.with_name(f"{path.stem}.{digest}{path.suffix}"))


def _source_files(directory: Path) -> Iterator[tuple[str, Path]]:
    """(name relative to the directory, path) of every file served, the built copies left out."""
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        if path.is_file() and not name.startswith(f"{PRECOMPRESSED}/"):
            yield name, path


def _compress(encoding: str, data: bytes) -> bytes:
    if encoding == "br":
        mode = brotli.MODE_TEXT if data.isascii() else brotli.MODE_GENERIC
        compressed: bytes = brotli.compress(data, quality=11, mode=mode)
        return compressed
    return gzip.compress(data, compresslevel=9, mtime=0)


def build_precompressed(directory: Path = STATIC_DIR) -> int:
    """Write the gzip and brotli copies that are missing and delete those of older contents;
    returns how many copies were written. A copy that would not be smaller is not kept."""
    out = directory / PRECOMPRESSED
    wanted: set[Path] = set()
    written = 0
    for name, path in _source_files(directory):
        if path.suffix not in COMPRESSIBLE:
            continue
        data = path.read_bytes()
        base = hashed_name(name, content_hash(data))
        for encoding, ending in ENCODINGS:
            target = out / f"{base}{ending}"
            wanted.add(target)
            if target.exists():
                continue
            body = _compress(encoding, data)
            if len(body) >= len(data):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f"{target.name}.partial")
            partial.write_bytes(body)
            partial.replace(target)
            written += 1
    for stale in out.rglob("*") if out.exists() else ():
        if stale.is_file() and stale not in wanted and not stale.name.startswith("."):
            stale.unlink()
    return written


@dataclass(frozen=True)
class Asset:
    """One static file: its media type, content hash, and its bodies by content coding
    ("identity" always, "br" and "gzip" when built)."""

    media_type: str
    digest: str
    bodies: Mapping[str, bytes]


class AssetIndex:
    """The static files of a directory, read into memory once, with their hashed addresses."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.assets: dict[str, Asset] = {}
        uncompressed = []
        for name, path in _source_files(directory):
            data = path.read_bytes()
            digest = content_hash(data)
            bodies = {"identity": data}
            for encoding, ending in ENCODINGS:
                copy = directory / PRECOMPRESSED / f"{hashed_name(name, digest)}{ending}"
                if copy.is_file():
                    bodies[encoding] = copy.read_bytes()
            if path.suffix in COMPRESSIBLE and len(bodies) == 1 and len(data) > 1024:
                uncompressed.append(name)
            media_type = MEDIA_TYPES.get(path.suffix) or (
                mimetypes.guess_type(name)[0] or "application/octet-stream"
            )
            self.assets[name] = Asset(media_type=media_type, digest=digest, bodies=bodies)
        if uncompressed:
            log.warning(
                "static files without a compressed copy of their current content (run `make "
                "assets`): %s",
                ", ".join(uncompressed),
            )
        # The modules under js/ import each other by plain address: map those to hashed ones.
        imports = {
            f"{PREFIX}{name}": self.url(name)
            for name in self.assets
            if name.startswith("js/") and name.endswith((".js", ".mjs"))
        }
        source = json.dumps({"imports": imports}, sort_keys=True, separators=(",", ":"))
        self.import_map = Markup(source.replace("<", "\\u003c"))
        checksum = hashlib.sha256(str(self.import_map).encode()).digest()
        self.import_map_source = f"'sha256-{base64.b64encode(checksum).decode()}'"

    def url(self, name: str) -> str:
        """The long-cached address of the static file `name` (`js/player.js`); a name that
        is not a static file raises KeyError, so a mistyped name fails the page's tests."""
        return f"{PREFIX}{hashed_name(name, self.assets[name].digest)}"

    def find(self, name: str) -> tuple[Asset, bool] | None:
        """The asset a request for `name` gets, and whether its answer may be cached for good
        (a hashed name of the current content); None when there is no such file."""
        asset = self.assets.get(name)
        if asset is not None:
            return asset, False
        match = HASHED_NAME.match(name)
        if match is None:
            return None
        asset = self.assets.get(f"{match['stem']}{match['suffix']}")
        if asset is None:
            return None
        return asset, asset.digest == match["digest"]


def accepted_encoding(accept_encoding: str, available: Mapping[str, bytes]) -> str:
    """The content coding to send: the available compressed one the client weighs highest
    (brotli before gzip on a tie), or "identity" when it accepts neither."""
    weights: dict[str, float] = {}
    for part in accept_encoding.split(","):
        token, _, parameters = part.partition(";")
        weight = 1.0
        key, _, value = parameters.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        weights[token.strip().lower()] = weight
    best, best_weight = "identity", 0.0
    for encoding, _ending in ENCODINGS:
        weight = weights.get(encoding, weights.get("*", 0.0))
        if encoding in available and weight > best_weight:
            best, best_weight = encoding, weight
    return best


def _etag(asset: Asset, encoding: str) -> str:
    return f'"{asset.digest}"' if encoding == "identity" else f'"{asset.digest}-{encoding}"'


def _matches(if_none_match: str, etag: str) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


class StaticAssets:
    """ASGI middleware answering /static/... (and /favicon.ico) from an `AssetIndex`, before
    sessions and routes: a script or stylesheet never waits for a thread or the database."""

    def __init__(self, app: ASGIApp, *, assets: AssetIndex) -> None:
        self.app = app
        self.assets = assets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith(PREFIX) or path == "/favicon.ico"):
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, {"allow": "GET, HEAD"}, b"Method not allowed\n")
            return
        if path == "/favicon.ico":  # browsers ask for it by that name when a page names none
            location = f"{PREFIX}favicon.svg"
            await _answer(send, 301, {"location": location, "cache-control": "max-age=86400"})
            return
        head = scope["method"] == "HEAD"
        found = self.assets.find(path.removeprefix(PREFIX))
        if found is None:
            await _answer(send, 404, {}, b"Not found\n", head=head)
            return
        asset, immutable = found
        encoding = accepted_encoding(headers.get("accept-encoding", ""), asset.bodies)
        etag = _etag(asset, encoding)
        answer = {
            "cache-control": IMMUTABLE if immutable else REVALIDATE,
            "etag": etag,
            "vary": "Accept-Encoding",
        }
        if _matches(headers.get("if-none-match", ""), etag):
            await _answer(send, 304, answer)
            return
        body = asset.bodies[encoding]
        answer["content-type"] = asset.media_type
        answer["content-length"] = str(len(body))
        if encoding != "identity":
            answer["content-encoding"] = encoding
        await _answer(send, 200, answer, body, head=head)


async def _answer(
    send: Send, status: int, headers: dict[str, str], body: bytes = b"", *, head: bool = False
) -> None:
    """Send a whole response; the body's length but not the body itself for a HEAD request."""
    if body and "content-type" not in headers:
        headers = {**headers, "content-type": "text/plain; charset=utf-8"}
    if status != 304 and "content-length" not in headers:
        headers = {**headers, "content-length": str(len(body))}
    raw = [(key.encode("latin-1"), value.encode("latin-1")) for key, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


if __name__ == "__main__":
    count = build_precompressed(Path(sys.argv[1]) if len(sys.argv) > 1 else STATIC_DIR)
    print(f"static assets: {count} compressed copies written")
