"""What each site holds of its lessons, as its agent reports after every sync's downloads
(terminals.sync receives the report), and the download state shown to the site's administrator
and its org's admins."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.db import utcnow
from courseware.models import Lesson
from terminals.sites.models import SiteHolding


class DownloadState(StrEnum):
    """Where one assigned lesson stands on the site's disk."""

    complete = "complete"
    partial = "partial"  # some of it is down: the next sync resumes it
    waiting = "waiting"  # none of it yet (outside the reception plan, or a failed download)
    no_room = "no_room"  # the disk quota made the agent skip it


@dataclass(frozen=True)
class Holding:
    """How much of one lesson the agent says it holds."""

    lesson_id: int
    files_held: int
    files_total: int
    bytes_held: int
    bytes_total: int
    no_room: bool


@dataclass(frozen=True)
class Download:
    """A lesson's download state with what it rests on."""

    state: DownloadState
    percent: int
    bytes_total: int
    reported_at: datetime


def record_holdings(
    *, session: Session, site_id: int, manifest_issued_at: datetime, lines: list[Holding]
) -> int:
    """Replace the site's holdings with the agent's report against the manifest issued at
    `manifest_issued_at` (lessons deleted since are left out); how many lessons were kept."""
    lesson_ids = {line.lesson_id for line in lines}
    existing = set(session.scalars(select(Lesson.id).where(Lesson.id.in_(lesson_ids))))
    session.execute(delete(SiteHolding).where(SiteHolding.site_id == site_id))
    now = utcnow()
    kept = {
        line.lesson_id: SiteHolding(
            site_id=site_id,
            lesson_id=line.lesson_id,
            files_held=min(line.files_held, line.files_total),
            files_total=line.files_total,
            bytes_held=min(line.bytes_held, line.bytes_total),
            bytes_total=line.bytes_total,
            no_room=line.no_room,
            manifest_issued_at=manifest_issued_at,
            reported_at=now,
        )
        for line in lines
        if line.lesson_id in existing
    }
    session.add_all(kept.values())
    session.flush()
    return len(kept)


def downloads_of(*, session: Session, site_id: int) -> dict[int, Download]:
    """The site's download state by lesson id; a lesson absent has not been reported."""
    return {
        holding.lesson_id: _download(holding)
        for holding in session.scalars(select(SiteHolding).where(SiteHolding.site_id == site_id))
    }


def _download(holding: SiteHolding) -> Download:
    if holding.files_total and holding.files_held >= holding.files_total:
        state = DownloadState.complete
    elif holding.no_room:
        state = DownloadState.no_room
    elif holding.bytes_held:
        state = DownloadState.partial
    else:
        state = DownloadState.waiting
    percent = (
        100 * holding.bytes_held // holding.bytes_total
        if holding.bytes_total
        else 100 * (state is DownloadState.complete)
    )
    return Download(state, percent, holding.bytes_total, holding.reported_at)
