"""Receiving an agent's upload: the sync protocol stores the records once each
(terminals.sync.records), then, in the same transaction and after the high-water mark moved,
the new session, attendance, interval and frame records are projected into group sessions,
roll calls, played lessons, frames and credits (credits wait for a session's evidence to be
whole)."""

from sqlalchemy.orm import Session

from core.storage import get_store
from terminals.sessions.projection import project_records
from terminals.sites.models import SiteDevice
from terminals.sync.records import store_batch
from terminals.sync.schemas import BatchAck, BatchIn


def receive_batch(*, session: Session, device: SiteDevice, batch: BatchIn) -> BatchAck:
    """Store the batch and project what it adds, in the caller's transaction; the ack."""
    stored = store_batch(session=session, device=device, batch=batch)
    project_records(
        session=session, store=get_store(), site_id=device.site_id, records=stored.stored
    )
    return stored.ack
