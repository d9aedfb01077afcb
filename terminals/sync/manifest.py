"""A site's manifest: what its agent must hold, file by file, signed by the server.

The payload names the site and the moment it was issued (the agent refuses another site's
manifest and one older than the last it accepted), then each assigned lesson with its course,
duration, credit hours and rendition, and each file with path, size, SHA-256 and a URL: a
presigned URL when the store gives one (S3), else the app's own file route, which asks for the
device token and serves only files of this site's manifest.
"""

import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.settings import get_settings
from core.storage import ObjectStore
from terminals.sites.assignments import assigned_lessons
from terminals.sites.models import Site
from terminals.sync.file_index import IndexedFile, lesson_files, rendition_name
from terminals.sync.models import LessonFile
from terminals.sync.player import PlayerFiles, player_files
from terminals.sync.roster import site_roster
from terminals.sync.signing import sign_payload

MANIFEST_FORMAT = 1
FILE_ROUTE = "/api/terminal/files/"


def file_url(store: ObjectStore, key: str, *, ttl: timedelta) -> str:
    """Where an agent fetches `key`: presigned on S3, else the app's route (relative to the
    server, with the device token)."""
    return store.presigned_url(key, expires=ttl) or FILE_ROUTE + quote(key)


def build_manifest(
    *, session: Session, store: ObjectStore, site: Site, player: PlayerFiles | None = None
) -> dict[str, Any]:
    """The manifest payload of `site` as of now; `player` names the web player's files
    (terminals.sync.player)."""
    ttl = timedelta(seconds=get_settings().sync_link_ttl_seconds)
    lessons = []
    total = 0
    for assigned in assigned_lessons(session=session, site=site):
        lesson = assigned.lesson
        files = lesson_files(
            session=session, store=store, lesson=lesson, rendition=assigned.rendition
        )
        size = sum(f.size for f in files)
        total += size
        lessons.append(
            {
                "id": lesson.id,
                "title": lesson.title,
                "course": {"id": lesson.course.id, "title": lesson.course.title},
                "position": lesson.position,
                "duration": lesson.duration,
                "credit_hours": lesson.credit_hours,
                "rendition": {
                    "name": rendition_name(assigned.rendition),
                    "height": assigned.rendition.get("height"),
                    "width": assigned.rendition.get("width"),
                    "bandwidth": assigned.rendition.get("bandwidth"),
                },
                "bytes": size,
                "files": [_file_entry(store, f, ttl) for f in files],
            }
        )
    return {
        "format": MANIFEST_FORMAT,
        "site": {
            "id": site.id,
            "code": site.code,
            "name": site.name,
            "tier": site.tier,
            # The reception plan: local times the agent may download in; empty means any time.
            "download_windows": list(site.download_windows or []),
        },
        "issued_at": utcnow().isoformat(),
        "total_bytes": total,
        "lessons": lessons,
        # The local player's files and the roll call's roster (group sessions at the site).
        "player": {"files": player_files(player)},
        "roster": site_roster(session=session, site=site),
    }


def _file_entry(store: ObjectStore, indexed: IndexedFile, ttl: timedelta) -> dict[str, Any]:
    return {
        "path": indexed.key,
        "size": indexed.size,
        "sha256": indexed.sha256,
        "url": file_url(store, indexed.key, ttl=ttl),
    }


def signed_manifest(
    *, session: Session, store: ObjectStore, site: Site, player: PlayerFiles | None = None
) -> dict[str, str]:
    """The manifest of `site` in its signed envelope."""
    return sign_payload(build_manifest(session=session, store=store, site=site, player=player))


# What each site may fetch, remembered briefly on this node: a file request then costs one indexed
# lookup instead of the assignment queries. An assignment removed stops file access within this.
FETCH_SCOPE_SECONDS = 30.0
_scopes: dict[int, tuple[float, dict[int, tuple[str, ...]]]] = {}
_scopes_lock = threading.Lock()


def fetch_scope(*, session: Session, site: Site) -> dict[int, tuple[str, ...]]:
    """Per assigned lesson id, the key prefixes the site may fetch: its rendition's directory,
    the captions and the poster."""
    now = time.monotonic()
    with _scopes_lock:
        cached = _scopes.get(site.id)
    if cached is not None and cached[0] > now:
        return cached[1]
    scope: dict[int, tuple[str, ...]] = {}
    for assigned in assigned_lessons(session=session, site=site):
        lesson = assigned.lesson
        hls = f"lessons/{lesson.id}/hls/"
        prefixes = (f"{hls}{rendition_name(assigned.rendition)}/", f"{hls}captions/")
        scope[lesson.id] = prefixes + ((lesson.poster_key,) if lesson.poster_key else ())
    with _scopes_lock:
        if len(_scopes) > 10_000:
            _scopes.clear()
        _scopes[site.id] = (now + FETCH_SCOPE_SECONDS, scope)
    return scope


def forget_fetch_scopes() -> None:
    """Drop the remembered scopes (tests; a node that must apply a change at once)."""
    with _scopes_lock:
        _scopes.clear()


def site_may_fetch(*, session: Session, site: Site, key: str) -> bool:
    """Whether `key` is a file of this site's manifest (the file route serves nothing else):
    an indexed file of an assigned lesson, within the rendition of the site's tier."""
    lesson_id = session.scalar(select(LessonFile.lesson_id).where(LessonFile.key == key))
    if lesson_id is None:
        return False
    prefixes = fetch_scope(session=session, site=site).get(lesson_id, ())
    return any(key.startswith(prefix) for prefix in prefixes)
