"""The web player's files, listed in every manifest so a site plays with its server's player.

A site's local player (terminals.agent.local) is the web player itself: the same script,
stylesheets and hls.js. The server names those files with size and SHA-256 and the agent fetches
and verifies them like lesson files, so a site runs the player version of the server it syncs
with and never needs the web package. The web application tells the sync routes where its
static files are (`app.state.static_dir`): terminals never imports web.
"""

import hashlib
import threading
from pathlib import Path
from typing import Any

# The player's files, relative to the static directory; served publicly under /static/.
PLAYER_FILES = (
    "js/player.js",
    "js/api.js",
    "js/confirm.js",
    "player.css",
    "app.css",
    "vendor/hls.light.min.js",
)
STATIC_ROUTE = "/static/"

_digests: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def _sha256(path: Path) -> tuple[int, str]:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _lock:
        known = _digests.get(key)
    if known is None:
        known = hashlib.sha256(path.read_bytes()).hexdigest()
        with _lock:
            _digests[key] = known
    return stat.st_size, known


def player_files(static_dir: Path | None) -> list[dict[str, Any]]:
    """The player's files with size, SHA-256 and URL; empty when the directory is unknown or a
    file is missing (an agent then keeps the player it has)."""
    if static_dir is None:
        return []
    entries = []
    for name in PLAYER_FILES:
        path = static_dir / name
        if not path.is_file():
            return []
        size, digest = _sha256(path)
        entries.append({"path": name, "size": size, "sha256": digest, "url": STATIC_ROUTE + name})
    return entries
