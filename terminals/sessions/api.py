"""JSON API of a site's evidence under /api/sites/{id}/: heartbeat history and group sessions
(roll calls, playback log, frames), and the frames' pictures. Readable by those who can see the
site (its org admins and its site administrators); a device token is not a user and gets 401."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from core.api import CurrentUser, RowId, SessionDep, json_body, json_body_schema
from core.db import write_scope
from core.errors import NotFound
from core.i18n import N_
from core.storage import get_store
from terminals.sessions.intake import receive_batch
from terminals.sessions.schemas import (
    FrameRead,
    HeartbeatRead,
    PlayedRead,
    RollCallRead,
    SessionRead,
)
from terminals.sessions.views import SessionView, get_frame, heartbeat_history, site_sessions
from terminals.sites.service import get_visible_site
from terminals.sync.api import CurrentDevice
from terminals.sync.schemas import BatchAck, BatchIn

router = APIRouter(tags=["site evidence"])
# The sync protocol's upload route lives here: storing a batch projects it (intake.py).
upload_router = APIRouter(prefix="/api/terminal", tags=["terminal sync"])


async def batch_body(request: Request) -> BatchIn:
    """The uploaded batch (up to sync_max_batch_records records), parsed from the bytes."""
    return await json_body(request, BatchIn)


@upload_router.post("/records", openapi_extra=json_body_schema(BatchIn))
def upload_records(
    device: CurrentDevice, body: Annotated[BatchIn, Depends(batch_body)]
) -> BatchAck:
    """Store a batch of outbox records once each, project what it adds into group sessions
    and credits, and acknowledge the high-water mark (after the commit)."""
    with write_scope() as session:
        return receive_batch(session=session, device=device, batch=body)


def frame_url(site_id: int, frame_id: int) -> str:
    """Where a frame's picture is served."""
    return f"/sites/{site_id}/frames/{frame_id}.jpg"


def session_read(view: SessionView) -> SessionRead:
    """The JSON of one session."""
    group = view.group
    return SessionRead(
        uuid=group.uuid,
        title=group.title,
        administrator=group.administrator,
        started_at=group.started_at,
        ended_at=group.ended_at,
        complete=group.complete,
        played_seconds=group.played_seconds,
        expected=group.expected,
        present=view.present,
        distrusted=group.distrusted,
        roll_call=[
            RollCallRead(
                member_id=a.member_id,
                name=view.names.get(a.member_id, ""),
                method=a.method,
                checked_in_at=a.checked_in_at,
                checked_out_at=a.checked_out_at,
                present_seconds=a.present_seconds,
                qualified=a.qualified,
            )
            for a in group.attendance
        ],
        played=[
            PlayedRead(
                lesson_id=p.lesson_id,
                title=view.titles.get(p.lesson_id, ""),
                coverage=p.coverage,
                media=p.media,
                spans=p.spans,
            )
            for p in group.played
        ],
        frames=[
            FrameRead(
                id=f.id,
                lesson_id=f.lesson_id,
                mark=f.mark,
                position=f.position,
                captured_at=f.captured_at,
                url=frame_url(group.site_id, f.id) if f.key else None,
            )
            for f in view.frames
        ],
    )


@router.get("/api/sites/{site_id}/heartbeats")
def heartbeats(site_id: RowId, session: SessionDep, actor: CurrentUser) -> list[HeartbeatRead]:
    """The site's latest heartbeats, newest first."""
    site = get_visible_site(session=session, actor=actor, site_id=site_id)
    return [
        HeartbeatRead(
            received_at=b.received_at,
            powered_on_at=b.powered_on_at,
            now_playing=b.now_playing,
            disk_free_bytes=b.disk_free_bytes,
            agent_version=b.agent_version,
        )
        for b in heartbeat_history(session=session, site=site)
    ]


@router.get("/api/sites/{site_id}/sessions")
def sessions(site_id: RowId, session: SessionDep, actor: CurrentUser) -> list[SessionRead]:
    """The site's latest group sessions, newest first, with roll calls, log and frames."""
    site = get_visible_site(session=session, actor=actor, site_id=site_id)
    return [session_read(view) for view in site_sessions(session=session, site=site)]


@router.get("/sites/{site_id}/frames/{frame_id}.jpg", include_in_schema=False)
def frame_picture(
    site_id: RowId, frame_id: RowId, session: SessionDep, actor: CurrentUser
) -> Response:
    """A proof-of-play frame, for those who can see the site."""
    site = get_visible_site(session=session, actor=actor, site_id=site_id)
    frame = get_frame(session=session, site=site, frame_id=frame_id)
    if frame is None or frame.key is None:
        raise NotFound(N_("Frame %(id)s not found."), id=frame_id)
    data = get_store().get_bytes(frame.key)
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )
