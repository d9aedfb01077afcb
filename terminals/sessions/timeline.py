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
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import ValidationError

from terminals.evidence.intervals import Interval, merge_intervals, total_length
from terminals.sync.schemas import AttendanceBody, SessionBody

OFFSET_NOISE = 5.0  # seconds
EPSILON = 1e-6


@dataclass(frozen=True)
class Evidence:
    """One stored session or attendance record as the rules see it."""

    uuid: str
    kind: str
    body: dict[str, Any]
    received_at: datetime
    offset: float


class Play(NamedTuple):
    """One stored interval record as the rules see it: its body's fields, as intake typed them
    into columns (a row without them is distrusted)."""

    uuid: str
    lesson_id: int | None
    media_start: float | None
    media_end: float | None
    rate: float | None
    wall_start: float | None  # POSIX seconds, the agent's clock
    received_at: datetime
    offset: float


# A play whose time is believed: (corrected start, uuid, lesson, media start, media end, rate).
Believed = tuple[float, str, int, float, float, float]


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
    records: Iterable[Evidence],
    plays: Iterable[Play],
    *,
    skew_seconds: float,
    max_rate: float,
    threshold: float,
) -> SessionFacts:
    """The facts of one session from all its stored records: session and attendance records,
    and interval records (plays)."""
    facts = SessionFacts()
    ordered = sorted(records, key=lambda r: r.uuid)  # a fixed order, whatever the arrival
    marks: list[tuple[datetime, str, int, str, str]] = []  # (time, uuid, member, event, method)
    for record in ordered:
        try:
            parsed = _parse(record)
        except ValidationError:
            facts.distrusted += 1
            continue
        moment = corrected(parsed.at, record.offset)
        if not plausible(moment, record, skew_seconds):
            facts.distrusted += 1
            continue
        if isinstance(parsed, SessionBody):
            _take_session_event(facts, parsed, moment)
        else:
            marks.append((moment, record.uuid, parsed.member_id, parsed.event, parsed.method))
    believed: list[Believed] = []
    for play in plays:
        lesson_id, first, last = play.lesson_id, play.media_start, play.media_end
        rate, wall_start = play.rate, play.wall_start
        if lesson_id is None or first is None or last is None or not rate or wall_start is None:
            facts.distrusted += 1
            continue
        began = wall_start + (play.offset if abs(play.offset) > OFFSET_NOISE else 0.0)
        if began > play.received_at.timestamp() + skew_seconds:
            facts.distrusted += 1
            continue
        believed.append((began, play.uuid, lesson_id, first, last, rate))
    busy = _accept_plays(facts, believed, max_rate)
    facts.played_seconds = total_length(busy)
    _take_attendance(facts, marks, busy, threshold)
    return facts


def _parse(record: Evidence) -> SessionBody | AttendanceBody:
    if record.kind == "session":
        return SessionBody.model_validate(record.body)
    return AttendanceBody.model_validate(record.body)


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
    facts: SessionFacts, plays: Sequence[Believed], max_rate: float
) -> list[Interval]:
    """Clip intervals to the session and to one screen; the wall time played (merged)."""
    start, end = _window(facts)
    cursor = start
    busy: list[Interval] = []
    media: dict[int, list[Interval]] = {}  # merged once at the end: a session has hundreds
    spans: dict[int, list[Interval]] = {}
    for began, _uuid, lesson_id, first, last, rate in sorted(plays):
        if last <= first:
            continue
        wall_start = max(began, cursor)
        wall_end = min(began + (last - first) / rate, end)
        if wall_end - wall_start <= EPSILON:
            continue
        media_start = first + (wall_start - began) * rate
        media_end = min(last, media_start + (wall_end - wall_start) * min(rate, max_rate))
        cursor = wall_end
        busy.append((wall_start, wall_end))
        media.setdefault(lesson_id, []).append((media_start, media_end))
        spans.setdefault(lesson_id, []).append((wall_start, wall_end))
    for lesson_id, played in media.items():
        facts.lessons[lesson_id] = LessonPlay(
            lesson_id,
            media=merge_intervals(played),
            spans=[(_at(a), _at(b)) for a, b in _merge_spans(spans[lesson_id])],
        )
    return merge_intervals(busy)


def _at(stamp: float) -> datetime:
    return datetime.fromtimestamp(round(stamp, 3), tz=UTC)


def _merge_spans(spans: list[Interval]) -> list[Interval]:
    """Wall spans of one lesson, those less than a second apart joined (a beat boundary)."""
    merged: list[Interval] = []
    for first, last in sorted(spans):
        if merged and first - merged[-1][1] <= 1.0:
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
