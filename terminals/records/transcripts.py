"""A member's electronic record of study (电子档案) for a year: every lesson studied online
with its playback sessions to the second, coverage and credits; every group session attended at
a site with the time present and the lessons played; every ledger entry; and the totals against
the requirement of the member's duty (with what the previous year carries over)."""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.i18n import N_
from core.localtime import day_start
from core.people.models import Member, User
from core.settings import get_settings
from courseware.models import Course, Lesson
from terminals.credits.models import CreditEntry
from terminals.evidence.models import LessonProgress, PlaybackBeat, PlaybackSession
from terminals.records.permissions import can_see_record
from terminals.sessions.models import GroupSession, SessionAttendance, SessionLesson
from terminals.sites.models import Site


def get_record_member(*, session: Session, user: User | None, member_id: int) -> Member:
    """A member whose record the user may read; any other is "not found"."""
    member = session.get(Member, member_id)
    if member is None or not can_see_record(user, member):
        raise NotFound(N_("Member %(id)s not found."), id=member_id)
    return member


def requirement_for(member: Member) -> float:
    """Hours the member's duty requires in a year (settings.credit_requirements)."""
    table = get_settings().credit_requirements
    return float(table.get(member.duty.value, table.get("member", 0.0)))


def earned_hours(session: Session, member_id: int, year: int) -> float:
    """Hours on the ledger for the member in the year, corrections included."""
    total = session.scalar(
        select(func.coalesce(func.sum(CreditEntry.hours), 0.0)).where(
            CreditEntry.member_id == member_id, CreditEntry.year == year
        )
    )
    return round(float(total or 0.0), 2)


def carried_into(session: Session, member: Member, year: int) -> float:
    """Hours the previous year's surplus brings (at most settings.credit_carry_over_hours; a
    surplus carries one year only)."""
    limit = get_settings().credit_carry_over_hours
    if limit <= 0:
        return 0.0
    surplus = earned_hours(session, member.id, year - 1) - requirement_for(member)
    return round(min(limit, max(0.0, surplus)), 2)


@dataclass(frozen=True)
class SessionLine:
    """One playback session of a lesson."""

    id: str
    started_at: datetime
    ended_at: datetime | None
    last_beat_at: datetime | None
    beats: int
    played_seconds: float
    credited_seconds: float


@dataclass(frozen=True)
class LessonLine:
    """A lesson studied in the year: coverage, time played, credits, sessions."""

    lesson_id: int
    title: str
    course_title: str
    duration: float
    covered_seconds: float
    coverage: float
    played_seconds: float
    credited_hours: float
    first_at: datetime | None
    last_at: datetime | None
    sessions: list[SessionLine]


@dataclass(frozen=True)
class EntryLine:
    """One ledger entry."""

    id: int
    source: str
    source_ref: str
    category: str
    lesson_id: int | None
    hours: float
    occurred_at: datetime
    recorded_at: datetime
    corrects_id: int | None
    author: str
    reason: str
    lesson_title: str
    event_title: str  # what a live event's credit was for


@dataclass(frozen=True)
class GroupLine:
    """A group session the member was checked in to at a site."""

    session_uuid: str
    site_name: str
    title: str
    started_at: datetime | None
    ended_at: datetime | None
    checked_in_at: datetime
    present_seconds: float
    qualified: bool  # present long enough to earn the session's lessons
    lessons: list[str]


@dataclass(frozen=True)
class Transcript:
    """The member's year of study."""

    member_id: int
    name: str
    id_number_masked: str
    org_id: int
    org_name: str
    duty: str
    year: int
    requirement: float
    carried_in: float
    earned: float
    total: float
    remaining: float
    complete: bool
    lessons: list[LessonLine]
    group_sessions: list[GroupLine]
    entries: list[EntryLine]


def build_transcript(*, session: Session, member: Member, year: int) -> Transcript:
    """The transcript of `member` for `year` (the caller checked the reader may see it)."""
    entries = list(
        session.execute(
            select(CreditEntry, User.login, Lesson.title)
            .outerjoin(User, User.id == CreditEntry.author_id)
            .outerjoin(Lesson, Lesson.id == CreditEntry.lesson_id)
            .where(CreditEntry.member_id == member.id, CreditEntry.year == year)
            .order_by(CreditEntry.occurred_at, CreditEntry.id)
        )
    )
    credited_by_lesson: dict[int, float] = {}
    for entry, _login, _title in entries:
        if entry.lesson_id is not None:
            credited_by_lesson[entry.lesson_id] = credited_by_lesson.get(entry.lesson_id, 0) + (
                entry.hours
            )
    lessons = _lesson_lines(session, member.id, year, credited_by_lesson)
    earned = round(sum(entry.hours for entry, _, _ in entries), 2)
    carried = carried_into(session, member, year)
    requirement = requirement_for(member)
    total = round(earned + carried, 2)
    return Transcript(
        member_id=member.id,
        name=member.name,
        id_number_masked=member.id_number_masked,
        org_id=member.org_id,
        org_name=member.org.name,
        duty=member.duty.value,
        year=year,
        requirement=requirement,
        carried_in=carried,
        earned=earned,
        total=total,
        remaining=round(max(0.0, requirement - total), 2),
        complete=total >= requirement,
        lessons=lessons,
        group_sessions=_group_lines(session, member.id, year),
        entries=[
            EntryLine(
                id=entry.id,
                source=entry.source,
                source_ref=entry.source_ref,
                category=entry.category,
                lesson_id=entry.lesson_id,
                hours=entry.hours,
                occurred_at=entry.occurred_at,
                recorded_at=entry.recorded_at,
                corrects_id=entry.corrects_id,
                author=login or "",
                reason=entry.reason,
                lesson_title=title or "",
                event_title=entry.detail.get("title", "") if entry.source == "live" else "",
            )
            for entry, login, title in entries
        ],
    )


def _lesson_lines(
    session: Session, member_id: int, year: int, credited: dict[int, float]
) -> list[LessonLine]:
    beats = (
        select(PlaybackBeat.session_id, func.count().label("beats"))
        .group_by(PlaybackBeat.session_id)
        .subquery()
    )
    sessions: dict[int, list[SessionLine]] = {}
    for playback, count in session.execute(
        select(PlaybackSession, func.coalesce(beats.c.beats, 0))
        .outerjoin(beats, beats.c.session_id == PlaybackSession.id)
        .where(PlaybackSession.member_id == member_id, PlaybackSession.year == year)
        .order_by(PlaybackSession.started_at)
    ):
        sessions.setdefault(playback.lesson_id, []).append(
            SessionLine(
                id=playback.id,
                started_at=playback.started_at,
                ended_at=playback.ended_at,
                last_beat_at=playback.last_beat_at,
                beats=int(count),
                played_seconds=round(playback.played_seconds, 1),
                credited_seconds=round(playback.credited_seconds, 1),
            )
        )
    rows = session.execute(
        select(LessonProgress, Lesson.title, Course.title)
        .join(Lesson, Lesson.id == LessonProgress.lesson_id)
        .join(Course, Course.id == Lesson.course_id)
        .where(LessonProgress.member_id == member_id, LessonProgress.year == year)
    )
    lines = []
    for progress, title, course_title in rows:
        own = sessions.get(progress.lesson_id, [])
        lines.append(
            LessonLine(
                lesson_id=progress.lesson_id,
                title=title,
                course_title=course_title,
                duration=progress.duration,
                covered_seconds=round(progress.covered_seconds, 1),
                coverage=round(min(1.0, progress.covered_seconds / progress.duration), 4)
                if progress.duration
                else 0.0,
                played_seconds=round(sum(s.played_seconds for s in own), 1),
                credited_hours=round(credited.get(progress.lesson_id, 0.0), 2),
                first_at=own[0].started_at if own else None,
                last_at=max((s.last_beat_at or s.started_at for s in own), default=None),
                sessions=own,
            )
        )
    lines.sort(key=lambda line: line.first_at or line.last_at or datetime.min.astimezone())
    return lines


def _group_lines(session: Session, member_id: int, year: int) -> list[GroupLine]:
    """The group sessions of the local year the member was checked in to, oldest first."""
    first, after = day_start(date(year, 1, 1)), day_start(date(year + 1, 1, 1))
    rows = session.execute(
        select(SessionAttendance, GroupSession, Site.name)
        .join(GroupSession, GroupSession.id == SessionAttendance.session_id)
        .join(Site, Site.id == GroupSession.site_id)
        .where(
            SessionAttendance.member_id == member_id,
            SessionAttendance.checked_in_at >= first,
            SessionAttendance.checked_in_at < after,
        )
        .order_by(SessionAttendance.checked_in_at)
    ).all()
    played: dict[int, list[str]] = {}
    for session_id, title in session.execute(
        select(SessionLesson.session_id, Lesson.title)
        .join(Lesson, Lesson.id == SessionLesson.lesson_id)
        .where(SessionLesson.session_id.in_([group.id for _, group, _ in rows]))
        .order_by(SessionLesson.first_played_at, SessionLesson.id)
    ):
        played.setdefault(session_id, []).append(title)
    return [
        GroupLine(
            session_uuid=group.uuid,
            site_name=site_name,
            title=group.title,
            started_at=group.started_at,
            ended_at=group.ended_at,
            checked_in_at=attendance.checked_in_at,
            present_seconds=round(attendance.present_seconds, 1),
            qualified=attendance.qualified,
            lessons=played.get(group.id, []),
        )
        for attendance, group, site_name in rows
    ]
