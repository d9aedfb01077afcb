"""What a site agent keeps in its directory.

```
DIR/agent.json     server URL, site, agent id, pinned manifest key, last manifest and sync
DIR/token          the device token (mode 0600)
DIR/outbox.db      records waiting for upload (terminals.agent.outbox)
DIR/index.json     what the agent holds: lessons of the last manifest, files with size and digest
DIR/content/...    the files, at their paths in the manifest (lessons/{id}/hls/360p/...)
DIR/player/...     the web player's files from the manifest (served by `terminal serve`)
DIR/roster.json    the roll call's roster from the last manifest (members, check values)
DIR/frames/...     proof-of-play frames captured by `terminal serve`
```
"""

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InvalidInput
from core.i18n import N_

CONFIG_NAME = "agent.json"
TOKEN_NAME = "token"
INDEX_NAME = "index.json"
OUTBOX_NAME = "outbox.db"
CONTENT_DIR = "content"
PLAYER_DIR = "player"
ROSTER_NAME = "roster.json"
FRAMES_DIR = "frames"


class NotEnrolled(InvalidInput):
    """The directory holds no enrolled agent."""


@dataclass
class AgentConfig:
    """The agent's settings and memory between runs."""

    server: str
    site_id: int
    site_name: str
    site_code: str
    device_id: int
    public_key: str  # base64 raw Ed25519, pinned at enrolment
    key_id: str
    agent_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    quota_bytes: int | None = None
    last_manifest_issued_at: str | None = None
    last_sync_at: str | None = None
    powered_on_at: str | None = None


def write_atomically(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` so a crash leaves the old file or the new one, never half."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, mode)
    os.replace(temporary, path)


class AgentDir:
    """The agent's directory and the files in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.content = root / CONTENT_DIR
        self.player = root / PLAYER_DIR
        self.frames = root / FRAMES_DIR

    def exists(self) -> bool:
        """Whether an agent was enrolled here."""
        return (self.root / CONFIG_NAME).is_file()

    def load(self) -> AgentConfig:
        """The enrolled agent's config; NotEnrolled when there is none."""
        try:
            data = json.loads((self.root / CONFIG_NAME).read_text())
        except FileNotFoundError as exc:
            raise NotEnrolled(
                N_("%(dir)s holds no enrolled agent: run `yuanjiao terminal enroll` first."),
                dir=str(self.root),
            ) from exc
        return AgentConfig(**data)

    def save(self, config: AgentConfig) -> None:
        """Write the config (atomically)."""
        self.root.mkdir(parents=True, exist_ok=True)
        text = json.dumps(asdict(config), ensure_ascii=False, indent=2)
        write_atomically(self.root / CONFIG_NAME, text.encode())

    def token(self) -> str:
        """The device token."""
        try:
            return (self.root / TOKEN_NAME).read_text().strip()
        except FileNotFoundError as exc:
            raise NotEnrolled(
                N_("%(dir)s holds no device token: run `yuanjiao terminal enroll` first."),
                dir=str(self.root),
            ) from exc

    def save_token(self, token: str) -> None:
        """Keep the token readable by this account only (0600)."""
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomically(self.root / TOKEN_NAME, token.encode(), mode=0o600)

    def index(self) -> dict[str, Any]:
        """The local index: {"issued_at", "lessons": [...], "files": {path: {size, sha256,
        mtime_ns}}}; empty before the first sync."""
        try:
            data: dict[str, Any] = json.loads((self.root / INDEX_NAME).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {"issued_at": None, "lessons": [], "files": {}}
        return data

    def save_index(self, index: dict[str, Any]) -> None:
        """Write the local index (atomically)."""
        write_atomically(
            self.root / INDEX_NAME, json.dumps(index, ensure_ascii=False, indent=1).encode()
        )

    def roster(self) -> dict[str, Any]:
        """The roster of the last manifest: {"checkin": {...}, "members": [...]}; empty before
        the first sync."""
        try:
            data: dict[str, Any] = json.loads((self.root / ROSTER_NAME).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {"checkin": {}, "members": []}
        return data

    def save_roster(self, roster: dict[str, Any]) -> None:
        """Write the roster (atomically; it holds names: readable by this account only)."""
        write_atomically(
            self.root / ROSTER_NAME,
            json.dumps(roster, ensure_ascii=False).encode(),
            mode=0o600,
        )

    @property
    def outbox_path(self) -> Path:
        """The outbox database."""
        return self.root / OUTBOX_NAME

    def content_path(self, path: str) -> Path:
        """Where a manifest path lives on disk; ValueError for a path that would leave the
        content directory."""
        return self.content.joinpath(*_safe_parts(path))

    def player_path(self, path: str) -> Path:
        """Where a player file lives on disk; ValueError for a path that would leave the
        player directory."""
        return self.player.joinpath(*_safe_parts(path))


def _safe_parts(path: str) -> list[str]:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe path {path!r}")
    return parts
