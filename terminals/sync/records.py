"""Storing uploaded outbox records exactly once and acknowledging a high-water mark.

A batch is stored in one transaction, whole or not at all. Each record is known by its
site-generated UUID: a record sent again with the same content is acknowledged and not stored
again; the same UUID (or the same place in the agent's sequence) with other content is refused,
and so is the batch. The reply's high-water mark is the highest sequence number up to which every
record of the agent is stored, so the agent may forget exactly those and resend the rest; batches
may arrive twice, late or out of order.

Clock skew: a record's `occurred_at` more than `sync_max_clock_skew_seconds` ahead of the server's
clock is stored and flagged "future" (refusing it would block the agent's outbox for good and lose
the evidence); every record also keeps the offset between the server's clock and the agent's at
sending, so readers (the credit rules) can correct or distrust its times.
"""

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import Table, and_, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import upsert, utcnow
from core.errors import TemporaryError
from core.i18n import N_
from core.localtime import local_date
from core.settings import get_settings
from terminals.sites.models import SiteDevice
from terminals.sync.errors import BatchRefused
from terminals.sync.heartbeats import mark_seen, record_heartbeat
from terminals.sync.models import AgentMark, SiteRecord, SiteRecordDay
from terminals.sync.schemas import (
    RECORD_BODIES,
    BatchAck,
    BatchIn,
    HeartbeatBody,
    IntervalBody,
    RecordIn,
)

FUTURE = "future"
RECORDS = cast(Table, SiteRecord.__table__)
TYPED_COLUMNS = ("lesson_id", "media_start", "media_end", "rate", "wall_start")


def canonical_json(value: object) -> str:
    """`value` as JSON with keys sorted, no spaces and text as sent: the form a record is
    digested in, and its body measured in."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def record_digest(agent_id: uuid.UUID, record: RecordIn, body_json: str) -> str:
    """SHA-256 of a record's canonical form, the object {agent, body, kind, occurred_at, seq} in
    canonical JSON: what a replay must match to be the same record. `body_json` is the body's
    canonical JSON (made once per record), written in the place its key sorts to."""
    agent = canonical_json(str(agent_id))
    rest = {"kind": record.kind, "occurred_at": record.occurred_at.isoformat(), "seq": record.seq}
    text = f'{{"agent":{agent},"body":{body_json},{canonical_json(rest)[1:]}'
    return hashlib.sha256(text.encode()).hexdigest()


def check_body(kind: str, body: dict[str, Any], body_json: str) -> BaseModel:
    """The body of `kind`, parsed; BatchRefused unless it is valid and its canonical JSON
    (`body_json`) within the size limit."""
    limit = get_settings().sync_max_record_bytes
    size = len(body_json.encode())
    if size > limit:
        raise BatchRefused(
            N_("A %(kind)s record's body has %(size)d bytes; at most %(limit)d are allowed."),
            kind=kind,
            size=size,
            limit=limit,
        )
    try:
        return RECORD_BODIES[kind].model_validate(body)
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise BatchRefused(
            N_("A %(kind)s record's body is invalid: %(detail)s"), kind=kind, detail=detail
        ) from exc


def typed_columns(body: BaseModel) -> dict[str, Any]:
    """The SiteRecord columns that hold an interval body's fields (None for other kinds)."""
    if not isinstance(body, IntervalBody):
        return dict.fromkeys(TYPED_COLUMNS)
    return {
        "lesson_id": body.lesson_id,
        "media_start": body.media_start,
        "media_end": body.media_end,
        "rate": body.rate,
        "wall_start": body.started_at.timestamp(),
    }


def _unique_in_batch(batch: BatchIn, bodies: list[str]) -> dict[str, tuple[RecordIn, str]]:
    """The batch's records by UUID, each once (`bodies`: their bodies' canonical JSON, in
    order); BatchRefused for a UUID or sequence number that appears twice with different
    content."""
    by_uuid: dict[str, tuple[RecordIn, str]] = {}
    by_seq: dict[int, str] = {}
    for record, body_json in zip(batch.records, bodies, strict=True):
        key, digest = str(record.uuid), record_digest(batch.agent_id, record, body_json)
        if key in by_uuid and by_uuid[key][1] != digest:
            raise BatchRefused(
                N_("Record %(uuid)s appears twice in the batch with different content."),
                uuid=key,
            )
        if by_seq.get(record.seq, key) != key:
            raise BatchRefused(
                N_("Sequence number %(seq)d is used by two records in the batch."),
                seq=record.seq,
            )
        by_uuid[key], by_seq[record.seq] = (record, digest), key
    return by_uuid


def _new_records(
    session: Session, site_id: int, batch: BatchIn, records: dict[str, tuple[RecordIn, str]]
) -> dict[str, tuple[RecordIn, str]]:
    """The records not stored yet, found with one query (by UUID, or by this agent's sequence
    number); BatchRefused for a conflicting replay."""
    fresh = dict(records)
    agent_id = str(batch.agent_id)
    seqs = {record.seq: key for key, (record, _) in records.items()}
    c = RECORDS.c
    stored = session.execute(
        select(c.uuid, c.site_id, c.agent_id, c.seq, c.digest).where(
            or_(
                c.uuid.in_(list(records)),
                and_(c.site_id == site_id, c.agent_id == agent_id, c.seq.in_(list(seqs))),
            )
        )
    ).all()
    for row in stored:  # the same record stored before: acknowledged, or refused if it changed
        if row.uuid in records:
            if row.site_id != site_id or row.digest != records[row.uuid][1]:
                raise BatchRefused(
                    N_(
                        "Record %(uuid)s was stored before with other content: a record, once "
                        "sent, must not change."
                    ),
                    uuid=row.uuid,
                )
            fresh.pop(row.uuid, None)
    for row in stored:  # another record in this agent's place
        if row.uuid not in records and row.seq in seqs and seqs[row.seq] in fresh:
            raise BatchRefused(
                N_("Sequence number %(seq)d of this agent already holds record %(other)s."),
                seq=row.seq,
                other=row.uuid,
            )
    return fresh


def advance_mark(*, session: Session, site_id: int, agent_id: str) -> int:
    """Move the agent's high-water mark over every stored record that continues it."""
    mark = session.get(AgentMark, (site_id, agent_id), with_for_update=True)
    if mark is None:
        try:
            with session.begin_nested():
                session.add(AgentMark(site_id=site_id, agent_id=agent_id, high_water=0))
        except IntegrityError:
            pass  # the agent's first two batches arrived together: the other one made it
        mark = session.get_one(
            AgentMark, (site_id, agent_id), with_for_update=True, populate_existing=True
        )
    high_water = mark.high_water
    while True:
        seqs = session.scalars(
            select(SiteRecord.seq)
            .where(
                SiteRecord.site_id == site_id,
                SiteRecord.agent_id == agent_id,
                SiteRecord.seq > high_water,
            )
            .order_by(SiteRecord.seq)
            .limit(1000)
        ).all()
        for seq in seqs:
            if seq != high_water + 1:
                break
            high_water = seq
        else:
            if len(seqs) == 1000:
                continue
        break
    if high_water != mark.high_water or mark.updated_at is None:
        mark.high_water, mark.updated_at = high_water, utcnow()
    session.flush()
    return high_water


@dataclass(frozen=True)
class NewRecord:
    """A record that a batch stored, as what follows in its transaction reads it."""

    uuid: str
    site_id: int
    kind: str
    body: dict[str, Any]
    clock_offset_seconds: float
    session_uuid: str | None  # the group session the body names (SiteRecord.session_uuid)


@dataclass(frozen=True)
class StoredBatch:
    """What storing a batch did: the acknowledgement, and the records stored now (what
    terminals.sessions projects, in the same transaction), in sequence order."""

    ack: BatchAck
    stored: list[NewRecord]


def store_batch(*, session: Session, device: SiteDevice, batch: BatchIn) -> StoredBatch:
    """Store the batch's new records once each, in the caller's transaction, and acknowledge."""
    settings = get_settings()
    if len(batch.records) > settings.sync_max_batch_records:
        raise BatchRefused(
            N_("The batch has %(count)d records; send at most %(limit)d at a time."),
            count=len(batch.records),
            limit=settings.sync_max_batch_records,
        )
    bodies = [canonical_json(record.body) for record in batch.records]
    parsed = {
        record.uuid: check_body(record.kind, record.body, body_json)
        for record, body_json in zip(batch.records, bodies, strict=True)
    }
    now = utcnow()
    offset = (now - batch.sent_at).total_seconds()
    horizon = now + timedelta(seconds=settings.sync_max_clock_skew_seconds)
    fresh = _new_records(session, device.site_id, batch, _unique_in_batch(batch, bodies))
    flagged = 0
    rows, stored = [], []
    for key, (record, digest) in sorted(fresh.items(), key=lambda item: item[1][0].seq):
        flag = FUTURE if record.occurred_at > horizon else None
        flagged += flag is not None
        session_uuid = _session_named(record.body)
        stored.append(
            NewRecord(key, device.site_id, record.kind, record.body, offset, session_uuid)
        )
        rows.append(
            {
                "uuid": key,
                "site_id": device.site_id,
                "agent_id": str(batch.agent_id),
                "seq": record.seq,
                "kind": record.kind,
                "occurred_at": record.occurred_at,
                "received_at": now,
                "device_id": device.id,
                "body": record.body,
                "session_uuid": session_uuid,
                "digest": digest,
                "clock_offset_seconds": offset,
                "flag": flag,
                **typed_columns(parsed[record.uuid]),
            }
        )
    try:
        if rows:  # one multi-row INSERT for the batch
            session.execute(insert(RECORDS), rows)
    except IntegrityError as exc:  # the same records arrived by another request this instant
        raise TemporaryError(
            N_("Another upload of the same records is being stored: send the batch again.")
        ) from exc
    touch_days(
        session=session, site_id=device.site_id, moments=[r.occurred_at for r, _ in fresh.values()]
    )
    for record, _digest in sorted(fresh.values(), key=lambda item: item[0].seq):
        if record.kind == "heartbeat":
            record_heartbeat(
                session=session,
                device=device,
                body=cast(HeartbeatBody, parsed[record.uuid]),
                sent_at=_earliest(record.occurred_at, horizon),
                received_at=now,
            )
    mark_seen(session=session, device_id=device.id, now=now)
    high_water = advance_mark(session=session, site_id=device.site_id, agent_id=str(batch.agent_id))
    ack = BatchAck(
        high_water=high_water,
        stored=len(fresh),
        duplicates=len(batch.records) - len(fresh),
        flagged=flagged,
    )
    return StoredBatch(ack, stored)


def touch_days(*, session: Session, site_id: int, moments: Iterable[datetime]) -> None:
    """Move on the counters of the site's local days on which records at `moments` fall, and
    of the days either side of them (one statement, whatever the count)."""
    own = {local_date(moment) for moment in moments}
    days = sorted({day + timedelta(days=near) for day in own for near in (-1, 0, 1)})
    if not days:
        return
    statement = upsert(session, SiteRecordDay).values(
        [{"site_id": site_id, "day": day, "revision": 1} for day in days]
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[SiteRecordDay.site_id, SiteRecordDay.day],
            set_={"revision": SiteRecordDay.revision + 1},
        )
    )


def _session_named(body: dict[str, Any]) -> str | None:
    """The group session a record's body names, as sent (when it is one that fits the column)."""
    value = body.get("session_id")
    return value if isinstance(value, str) and len(value) <= 36 else None


def _earliest(first: datetime, second: datetime) -> datetime:
    return min(first, second)
