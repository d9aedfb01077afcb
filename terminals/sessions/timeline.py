"""The rules that turn a group session's records into facts, as pure functions of the set of
records (never of their order or number of deliveries).

Clock. Each stored record keeps `clock_offset_seconds`: server time minus the agent's clock when
its batch was sent. An agent time is corrected by that offset when it is larger than
OFFSET_NOISE (smaller ones are network delay, and ignoring them keeps a replay from moving
times by milliseconds).

Plausibility. A record whose corrected time lies after the moment the server received it (plus
sync_max_clock_skew_seconds) claims something that had not happened yet: it earns nothing and is
counted as distrusted. A "future"-flagged record whose corrected time is plausible (the agent's
whole clock was ahead, and its batch said so) counts with the corrected time.

Played time. An interval says: media [a, b) at `rate`, starting at wall time s. Its wall span
(b - a) / rate is clipped to the session [start, end]; intervals are taken in wall order and
one may not start before the previous accepted one ended (the site has one screen), so the
session's played seconds never exceed its real duration; media is accepted at most at
credit_max_rate times wall time.

Presence. A member's check-ins ("in") open a window and check-outs ("out") close it; an open
window closes at the session's end. Present seconds are the overlap of these windows with the
session's played wall time; the member qualifies when that is at least the threshold share of
the played time.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from terminals.evidence.intervals import Interval, merge_intervals, total_length
from terminals.sync.schemas import AttendanceBody, IntervalBody, SessionBody

OFFSET_NOISE = 5.0  # seconds
EPSILON = 1e-6


@dataclass(frozen=True)
class Evidence:
    """One stored record as the rules see it."""

    uuid: str
    kind: str
    body: dict[str, Any]
    received_at: datetime
    offset: float


@dataclass
class Attendee:
    """A member on the roll call, as the rules make it."""

    member_id: int
    method: str
    checked_in_at: datetime
    checked_out_at: datetime | None
    present_seconds: float = 0.0
    qualified: bool = False


@dataclass
class LessonPlay:
    """What was played of one lesson: merged media, wall spans (accepted), first and last."""

    lesson_id: int
    media: list[Interval] = field(default_factory=list)
    spans: list[tuple[datetime, datetime]] = field(default_factory=list)


@dataclass
class SessionFacts:
    """Everything the records of one session establish."""

    title: str = ""
    administrator: str = ""
    lesson_ids: list[int] = field(default_factory=list)
    expected: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    played_seconds: float = 0.0
    distrusted: int = 0
    attendees: dict[int, Attendee] = field(default_factory=dict)
    lessons: dict[int, LessonPlay] = field(default_factory=dict)


def corrected(moment: datetime, offset: float) -> datetime:
    """An agent's time on the server's clock."""
    return moment + timedelta(seconds=offset) if abs(offset) > OFFSET_NOISE else moment


def plausible(moment: datetime, evidence: Evidence, skew_seconds: float) -> bool:
    """Whether a corrected time had happened by the time the server received its record."""
    return moment <= evidence.received_at + timedelta(seconds=skew_seconds)


def build_session(
    records: Iterable[Evidence], *, skew_seconds: float, max_rate: float, threshold: float
) -> SessionFacts:
    """The facts of one session from all its stored records (session, attendance, interval)."""
    facts = SessionFacts()
    ordered = sorted(records, key=lambda r: r.uuid)  # a fixed order, whatever the arrival
    marks: list[tuple[datetime, str, int, str, str]] = []  # (time, uuid, member, event, method)
    plays: list[tuple[datetime, str, IntervalBody]] = []
    for record in ordered:
        try:
            parsed = _parse(record)
        except ValidationError:
            facts.distrusted += 1
            continue
        moment = corrected(_time_of(parsed), record.offset)
        if not plausible(moment, record, skew_seconds):
            facts.distrusted += 1
            continue
        if isinstance(parsed, SessionBody):
            _take_session_event(facts, parsed, moment)
        elif isinstance(parsed, AttendanceBody):
            marks.append((moment, record.uuid, parsed.member_id, parsed.event, parsed.method))
        else:
            plays.append((moment, record.uuid, parsed))
    busy = _accept_plays(facts, plays, max_rate)
    facts.played_seconds = total_length(busy)
    _take_attendance(facts, marks, busy, threshold)
    return facts


def _parse(record: Evidence) -> SessionBody | AttendanceBody | IntervalBody:
    if record.kind == "session":
        return SessionBody.model_validate(record.body)
    if record.kind == "attendance":
        return AttendanceBody.model_validate(record.body)
    return IntervalBody.model_validate(record.body)


def _time_of(parsed: SessionBody | AttendanceBody | IntervalBody) -> datetime:
    return parsed.started_at if isinstance(parsed, IntervalBody) else parsed.at


def _take_session_event(facts: SessionFacts, body: SessionBody, moment: datetime) -> None:
    fields = body.model_dump()  # named fields and any an agent adds
    if body.event == "started":
        if facts.started_at is None or moment < facts.started_at:
            facts.started_at = moment
        facts.title = str(fields.get("title") or facts.title)[:200]
        facts.administrator = body.administrator or facts.administrator
        expected = fields.get("expected")
        if isinstance(expected, int) and expected >= 0:
            facts.expected = expected
    elif facts.ended_at is None or moment > facts.ended_at:
        facts.ended_at = moment
    if body.lesson_ids and (body.event == "started" or not facts.lesson_ids):
        facts.lesson_ids = list(body.lesson_ids)


def _window(facts: SessionFacts) -> tuple[float, float]:
    start = facts.started_at.timestamp() if facts.started_at else float("-inf")
    end = facts.ended_at.timestamp() if facts.ended_at else float("inf")
    return start, end


def _accept_plays(
    facts: SessionFacts, plays: Sequence[tuple[datetime, str, IntervalBody]], max_rate: float
) -> list[Interval]:
    """Clip intervals to the session and to one screen; the wall time played (merged)."""
    start, end = _window(facts)
    cursor = start
    busy: list[Interval] = []
    media: dict[int, list[Interval]] = {}  # merged once at the end: a session has hundreds
    for moment, _uuid, body in sorted(plays, key=lambda p: (p[0], p[1])):
        if body.media_end <= body.media_start:
            continue
        began = moment.timestamp()
        wall_start = max(began, cursor)
        wall_end = min(began + (body.media_end - body.media_start) / body.rate, end)
        if wall_end - wall_start <= EPSILON:
            continue
        media_start = body.media_start + (wall_start - began) * body.rate
        media_end = min(
            body.media_end, media_start + (wall_end - wall_start) * min(body.rate, max_rate)
        )
        cursor = wall_end
        busy.append((wall_start, wall_end))
        play = facts.lessons.setdefault(body.lesson_id, LessonPlay(body.lesson_id))
        media.setdefault(body.lesson_id, list(play.media)).append((media_start, media_end))
        play.spans.append((_at(wall_start, moment), _at(wall_end, moment)))
    for lesson_id, played in media.items():
        facts.lessons[lesson_id].media = merge_intervals(played)
    for play in facts.lessons.values():
        play.spans = _merge_spans(play.spans)
    return merge_intervals(busy)


def _at(stamp: float, like: datetime) -> datetime:
    return datetime.fromtimestamp(round(stamp, 3), tz=like.tzinfo)


def _merge_spans(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Wall spans of one lesson, those less than a second apart joined (a beat boundary)."""
    merged: list[tuple[datetime, datetime]] = []
    for first, last in sorted(spans):
        if merged and (first - merged[-1][1]).total_seconds() <= 1.0:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _take_attendance(
    facts: SessionFacts,
    marks: Sequence[tuple[datetime, str, int, str, str]],
    busy: Sequence[Interval],
    threshold: float,
) -> None:
    start, end = _window(facts)
    windows: dict[int, list[Interval]] = {}
    open_at: dict[int, float] = {}
    for moment, _uuid, member_id, event, method in sorted(marks, key=lambda m: (m[0], m[1])):
        person = facts.attendees.get(member_id)
        if event == "in":
            if person is None:
                facts.attendees[member_id] = Attendee(member_id, method, moment, None)
            elif person.checked_out_at is not None:
                person.checked_out_at = None  # back in after leaving
            open_at.setdefault(member_id, moment.timestamp())
        elif person is not None and member_id in open_at:
            windows.setdefault(member_id, []).append((open_at.pop(member_id), moment.timestamp()))
            person.checked_out_at = moment
    for member_id, opened in open_at.items():
        windows.setdefault(member_id, []).append((opened, end))
    for member_id, person in facts.attendees.items():
        clipped = [(max(a, start), min(b, end)) for a, b in windows.get(member_id, [])]
        person.present_seconds = round(_overlap(merge_intervals(clipped), busy), 3)
        person.qualified = (
            facts.played_seconds > 0
            and person.present_seconds + EPSILON >= threshold * facts.played_seconds
        )


def _overlap(first: Sequence[Interval], second: Sequence[Interval]) -> float:
    """Seconds in both of two sorted, disjoint interval lists."""
    total, i, j = 0.0, 0, 0
    while i < len(first) and j < len(second):
        low, high = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        total += max(0.0, high - low)
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return total
