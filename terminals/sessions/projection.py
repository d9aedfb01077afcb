"""Projecting stored site records into group sessions, roll calls, played lessons and frames.

Called by the sync package in the transaction that stores a batch, with the records that batch
newly stored: the sessions they touch are rebuilt from every stored record of each session, so
the rows are a function of the set of records and never of arrival order, duplicates or which
app instance stored them. Rebuilding one session reads only its session, attendance and
interval records (frames are handled once each, when stored).
"""

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.people.models import Member
from core.settings import get_settings
from core.storage import ObjectStore
from courseware.models import Lesson
from terminals.sessions.awards import award_session
from terminals.sessions.models import GroupSession, SessionAttendance, SessionLesson, SiteFrame
from terminals.sessions.timeline import Evidence, Play, SessionFacts, build_session, corrected
from terminals.sites.models import Site
from terminals.sync.models import AgentMark
from terminals.sync.records import RECORDS, NewRecord
from terminals.sync.schemas import FrameBody

# A session is rebuilt from its session and attendance records (read as bodies) and its interval
# records (read through their typed columns); frames are kept once each.
MARK_KINDS = ("session", "attendance")
PROJECTED_KINDS = (*MARK_KINDS, "interval", "frame")
JPEG_MAGIC = b"\xff\xd8\xff"


def frame_key(site_id: int, record_uuid: str) -> str:
    """Where a proof-of-play frame's JPEG is kept."""
    return f"sites/{site_id}/frames/{record_uuid}.jpg"


def project_records(
    *, session: Session, store: ObjectStore, site_id: int, records: Iterable[NewRecord]
) -> list[GroupSession]:
    """Project newly stored records: keep their frames, rebuild (and credit) their sessions."""
    records = [record for record in records if record.kind in PROJECTED_KINDS]
    if not records:
        return []
    # One projection per site at a time, so two batches of one session arriving together each
    # see the other's records (the second waits for the first to commit).
    session.execute(select(Site.id).where(Site.id == site_id).with_for_update())
    touched: set[str] = set()
    for record in records:
        if record.kind == "frame":
            keep_frame(session=session, store=store, record=record)
        elif record.session_uuid:
            touched.add(record.session_uuid)
    # Ended sessions still waiting for earlier records: a batch that fills the gap may hold
    # none of their own records.
    touched |= set(
        session.scalars(
            select(GroupSession.uuid).where(
                GroupSession.site_id == site_id,
                GroupSession.ended_at.is_not(None),
                GroupSession.complete.is_(False),
            )
        )
    )
    return [
        rebuild_session(session=session, site_id=site_id, session_uuid=key)
        for key in sorted(touched)
    ]


def keep_frame(*, session: Session, store: ObjectStore, record: NewRecord) -> SiteFrame | None:
    """The frame row of a frame record (once), its JPEG written to object storage when the
    record carries it (`jpeg_base64`) and its digest and size match what the record says."""
    existing = session.scalar(select(SiteFrame).where(SiteFrame.record_uuid == record.uuid))
    if existing is not None:
        return existing
    try:
        body = FrameBody.model_validate(record.body)
    except ValidationError:
        return None
    fields = body.model_dump()  # named fields and any an agent adds
    key: str | None = None
    problem = ""
    data = _jpeg_bytes(fields.get("jpeg_base64"))
    if data is None:
        problem = "no picture" if not fields.get("jpeg_base64") else "unreadable picture"
    elif hashlib.sha256(data).hexdigest() != body.sha256 or len(data) != body.size:
        problem = "digest mismatch"
    else:
        key = frame_key(record.site_id, record.uuid)
        store.put_bytes(key, data, content_type="image/jpeg")
    frame = SiteFrame(
        record_uuid=record.uuid,
        site_id=record.site_id,
        session_uuid=str(body.session_id),
        lesson_id=body.lesson_id,
        position=body.position,
        mark=str(fields.get("mark") or "")[:20],
        captured_at=corrected(body.captured_at, record.clock_offset_seconds),
        key=key,
        size=body.size if key else 0,
        sha256=body.sha256,
        detail={"problem": problem} if problem else {},
    )
    session.add(frame)
    return frame


def _jpeg_bytes(encoded: object) -> bytes | None:
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if data.startswith(JPEG_MAGIC) else None


def rebuild_session(*, session: Session, site_id: int, session_uuid: str) -> GroupSession:
    """Rebuild one session's rows from all its stored records, then award its credits."""
    settings = get_settings()
    c = RECORDS.c
    of_session = (c.site_id == site_id, c.session_uuid == session_uuid)
    marks: Sequence[Any] = session.execute(
        select(
            c.uuid, c.kind, c.body, c.received_at, c.clock_offset_seconds, c.agent_id, c.seq
        ).where(*of_session, c.kind.in_(MARK_KINDS))
    ).all()
    plays: Sequence[Any] = session.execute(
        select(  # Play's fields, in order, then what _end_of_evidence tests
            c.uuid, c.lesson_id, c.media_start, c.media_end, c.rate, c.wall_start,
            c.received_at, c.clock_offset_seconds, c.agent_id, c.seq,
        ).where(*of_session, c.kind == "interval")
    ).all()  # fmt: skip
    last_counted, complete = _end_of_evidence(session, site_id, marks)
    facts = build_session(
        [
            Evidence(r.uuid, r.kind, r.body, r.received_at, r.clock_offset_seconds)
            for r in marks
            if last_counted(r)
        ],
        [Play._make(r[:8]) for r in plays if last_counted(r)],
        skew_seconds=settings.sync_max_clock_skew_seconds,
        max_rate=settings.credit_max_rate,
        threshold=settings.site_presence_threshold,
    )
    group = session.scalar(select(GroupSession).where(GroupSession.uuid == session_uuid))
    if group is None:
        group = GroupSession(site_id=site_id, uuid=session_uuid)
        session.add(group)
    _apply(session, group, facts)
    group.complete = complete
    session.flush()
    if complete:
        award_session(session=session, group=group)
    return group


def _end_of_evidence(
    session: Session, site_id: int, marks: Sequence[Any]
) -> tuple[Callable[[Any], bool], bool]:
    """Which of a session's records count (a test on a row with `agent_id` and `seq`), and
    whether they are all stored, from its session and attendance records. Once the session has
    ended, records its agent wrote after the "ended" record no longer count, and the evidence
    is whole when the agent's high-water mark has reached that record."""
    ended = [r for r in marks if r.kind == "session" and r.body.get("event") == "ended"]
    if not ended:
        return (lambda _row: True), False
    last = max(ended, key=lambda r: (r.seq, r.uuid))
    mark = session.get(AgentMark, (site_id, last.agent_id))

    def counts(row: Any) -> bool:
        return bool(row.agent_id != last.agent_id or row.seq <= last.seq)

    return counts, mark is not None and mark.high_water >= last.seq


def _apply(session: Session, group: GroupSession, facts: SessionFacts) -> None:
    group.title = facts.title
    group.administrator = facts.administrator[:200]
    group.lesson_ids = facts.lesson_ids
    group.expected = facts.expected
    group.started_at = facts.started_at
    group.ended_at = facts.ended_at
    group.played_seconds = round(facts.played_seconds, 3)
    group.distrusted = facts.distrusted
    group.updated_at = utcnow()
    known = set(
        session.scalars(select(Member.id).where(Member.id.in_(list(facts.attendees)))).all()
    )
    by_member = {a.member_id: a for a in group.attendance}
    for member_id, person in facts.attendees.items():
        if member_id not in known:
            continue  # a member deleted since the roll call
        row = by_member.pop(member_id, None)
        if row is None:
            row = SessionAttendance(member_id=member_id)
            group.attendance.append(row)
        row.method = person.method
        row.checked_in_at = person.checked_in_at
        row.checked_out_at = person.checked_out_at
        row.present_seconds = person.present_seconds
        row.qualified = person.qualified
    for stale in by_member.values():
        group.attendance.remove(stale)
    durations = dict(
        session.execute(
            select(Lesson.id, Lesson.duration).where(Lesson.id.in_(list(facts.lessons)))
        ).all()
    )
    by_lesson = {p.lesson_id: p for p in group.played}
    for lesson_id, play in facts.lessons.items():
        if lesson_id not in durations:
            continue  # a lesson deleted since
        row_play = by_lesson.pop(lesson_id, None)
        if row_play is None:
            row_play = SessionLesson(lesson_id=lesson_id)
            group.played.append(row_play)
        duration = durations[lesson_id] or 0.0
        covered = sum(b - a for a, b in play.media)
        row_play.media = [[round(a, 3), round(b, 3)] for a, b in play.media]
        row_play.spans = [[_iso(a), _iso(b)] for a, b in play.spans]
        row_play.first_played_at = play.spans[0][0] if play.spans else None
        row_play.last_played_at = play.spans[-1][1] if play.spans else None
        row_play.coverage = round(min(1.0, covered / duration), 4) if duration > 0 else 0.0
    for stale_play in by_lesson.values():
        group.played.remove(stale_play)


def _iso(moment: datetime) -> str:
    return moment.isoformat()
