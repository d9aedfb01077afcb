"""Builders for group-session tests: the outbox records a site's agent writes for one session
(start, roll call, played intervals, frames, end), as the local player writes them."""

import base64
import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from terminals.sync.schemas import RecordIn

# A JPEG's first bytes and some more: enough for the server's checks (magic, size, digest).
FRAME_JPEG = b"\xff\xd8\xff\xe0" + os.urandom(300) + b"\xff\xd9"


@dataclass
class Script:
    """An agent writing records in order; `records` are numbered 1.. like the outbox."""

    agent: uuid.UUID
    records: list[RecordIn]

    def add(self, kind: str, at: datetime, body: dict[str, Any]) -> RecordIn:
        """Append one record."""
        seq = len(self.records) + 1
        record = RecordIn(
            uuid=uuid.uuid5(self.agent, str(seq)), seq=seq, kind=kind, occurred_at=at, body=body
        )
        self.records.append(record)
        return record


def session_script(
    *,
    start: datetime,
    lesson_full: int,
    lesson_part: int,
    stayed: list[int],
    left_early: list[int],
    duration: float = 12.0,
) -> Script:
    """One session: members of `stayed` check in and stay; those of `left_early` check out
    before the lessons play. `lesson_full` plays whole (in three stretches, frames at start,
    middle and end); `lesson_part` plays half."""
    script = Script(uuid.uuid4(), [])
    sid = str(uuid.uuid5(script.agent, "session"))

    def at(seconds: float) -> datetime:
        return start + timedelta(seconds=seconds)

    script.add(
        "session",
        at(0),
        {
            "session_id": sid,
            "event": "started",
            "at": at(0).isoformat(),
            "administrator": "王书记",
            "lesson_ids": [lesson_full, lesson_part],
            "title": "十一月集中学习",
            "expected": len(stayed) + len(left_early) + 1,
        },
    )
    for number, member in enumerate([*stayed, *left_early]):
        method = ("list", "qr", "pin")[number % 3]
        body = {"session_id": sid, "member_id": member, "method": method, "event": "in"}
        script.add("attendance", at(5 + number), body | {"at": at(5 + number).isoformat()})
    for number, member in enumerate(left_early):
        body = {"session_id": sid, "member_id": member, "method": "list", "event": "out"}
        script.add("attendance", at(20 + number), body | {"at": at(20 + number).isoformat()})
    third = duration / 3
    for part in range(3):
        began = at(30 + part * third)
        script.add(
            "interval",
            began,
            {
                "session_id": sid,
                "lesson_id": lesson_full,
                "media_start": part * third,
                "media_end": (part + 1) * third,
                "started_at": began.isoformat(),
                "rate": 1.0,
            },
        )
        script.add("frame", began, frame_body(sid, lesson_full, part * third, began, "smi"[part]))
    began = at(30 + duration + 2)
    script.add(
        "interval",
        began,
        {
            "session_id": sid,
            "lesson_id": lesson_part,
            "media_start": 0.0,
            "media_end": duration / 2,
            "started_at": began.isoformat(),
            "rate": 1.0,
        },
    )
    end = at(30 + duration * 2)
    script.add(
        "session",
        end,
        {
            "session_id": sid,
            "event": "ended",
            "at": end.isoformat(),
            "administrator": "王书记",
            "lesson_ids": [lesson_full, lesson_part],
            "present": len(stayed) + len(left_early),
        },
    )
    return script


def frame_body(sid: str, lesson: int, position: float, at: datetime, mark: str) -> dict[str, Any]:
    """A frame record's body with its JPEG inline, as the local player sends it."""
    return {
        "session_id": sid,
        "lesson_id": lesson,
        "position": position,
        "captured_at": at.isoformat(),
        "sha256": hashlib.sha256(FRAME_JPEG).hexdigest(),
        "size": len(FRAME_JPEG),
        "mark": {"s": "start", "m": "middle", "i": "end"}[mark],
        "media_type": "image/jpeg",
        "jpeg_base64": base64.b64encode(FRAME_JPEG).decode(),
    }
