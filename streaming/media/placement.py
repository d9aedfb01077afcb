"""Which media node holds a room. Nodes say they are alive (`heartbeat`); a room goes to the
live node holding fewest rooms when it first opens, and again when its node stops answering
(its participants then reconnect, and the new node takes the meeting up from its record)."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import TemporaryError
from core.i18n import N_
from streaming.media.models import MediaNodeRecord, RoomPlacement

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Liveness:
    """How often a node says it is alive, and how long a silence means it is dead."""

    interval: float
    timeout: float

    def since(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.timeout)


def heartbeat(session: Session, url: str) -> None:
    """The node at `url` is alive now (registered on its first beat)."""
    now = utcnow()
    node = session.get(MediaNodeRecord, url)
    if node is None:
        session.add(MediaNodeRecord(url=url, started_at=now, seen_at=now))
    else:
        node.seen_at = now
    session.flush()


def holder(session: Session, room: str, liveness: Liveness) -> str | None:
    """The URL of the live node that holds ``room``, if one does."""
    return session.scalar(
        select(MediaNodeRecord.url)
        .join(RoomPlacement, RoomPlacement.node_url == MediaNodeRecord.url)
        .where(RoomPlacement.room == room, MediaNodeRecord.seen_at >= liveness.since(utcnow()))
    )


def place(session: Session, room: str, liveness: Liveness) -> str:
    """The URL of the node that holds `room`, choosing one if it has none or its node is dead."""
    since = liveness.since(utcnow())
    held = holder(session, room, liveness)
    if held is not None:
        return held
    placed = session.get(RoomPlacement, room)
    load = (
        select(RoomPlacement.node_url, func.count().label("rooms"))
        .group_by(RoomPlacement.node_url)
        .subquery()
    )
    url = session.scalar(
        select(MediaNodeRecord.url)
        .outerjoin(load, load.c.node_url == MediaNodeRecord.url)
        .where(MediaNodeRecord.seen_at >= since)
        .order_by(func.coalesce(load.c.rooms, 0), MediaNodeRecord.url)
        .limit(1)
    )
    if url is None:
        raise TemporaryError(N_("No media node is running; the room opens when one starts."))
    if placed is None:
        try:
            with session.begin_nested():
                session.add(RoomPlacement(room=room, node_url=url))
        except IntegrityError:  # another web node placed it first: it is where that one put it
            return session.get_one(RoomPlacement, room).node_url
    else:
        # Only if no other web node moved it first: the first move wins, the rest follow it.
        silent = placed.node_url
        moved = session.execute(
            update(RoomPlacement)
            .where(RoomPlacement.room == room, RoomPlacement.node_url == silent)
            .values(node_url=url, placed_at=utcnow())
        )
        if moved.rowcount == 0:  # type: ignore[attr-defined]
            session.expire(placed)
            return session.get_one(RoomPlacement, room).node_url
        log.warning("room %s moves from silent media node %s to %s", room, silent, url)
    session.flush()
    return url


def retire(session: Session, url: str) -> None:
    """The node at ``url`` stops (gracefully): it and its placements go at once, so its rooms
    move on their participants' next connection, not after the timeout."""
    session.execute(delete(RoomPlacement).where(RoomPlacement.node_url == url))
    session.execute(delete(MediaNodeRecord).where(MediaNodeRecord.url == url))


def release(session: Session, room: str) -> None:
    """The room closed: it is no node's any more."""
    session.execute(delete(RoomPlacement).where(RoomPlacement.room == room))
