"""The web player's files, listed in every manifest so a site plays with its server's player.

A site's local player (terminals.agent.local) is the web player itself: the same script,
stylesheets and hls.js. The server names those files with size and SHA-256 and the agent fetches
and verifies them like lesson files, so a site runs the player version of the server it syncs
with and never needs the web package. The web application tells the sync routes where its
static files are (`app.state.static_dir`): terminals never imports web.
"""

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATIC_ROUTE = "/static/"


@dataclass(frozen=True)
class PlayerFiles:
    """The player's files: their names relative to `root`, served publicly under /static/."""

    root: Path
    names: tuple[str, ...]


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


def player_files(player: PlayerFiles | None) -> list[dict[str, Any]]:
    """The player's files with size, SHA-256 and URL; empty when they are unknown or one is
    missing (an agent then keeps the player it has)."""
    if player is None:
        return []
    entries = []
    for name in player.names:
        path = player.root / name
        if not path.is_file():
            return []
        size, digest = _sha256(path)
        entries.append({"path": name, "size": size, "sha256": digest, "url": STATIC_ROUTE + name})
    return entries
