"""Playback sessions and beats: issue a session, store each beat once, and keep what the
member has been credited for a lesson up to date, awarding the lesson's credit once coverage
reaches the threshold."""

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound, PermissionDenied
from core.i18n import N_
from core.people.models import Member, User
from core.settings import get_settings
from courseware.models import Lesson, LessonStatus
from courseware.service import credit_hours_for
from terminals.credits.errors import SessionEnded
from terminals.credits.ledger import LIVE_EVENT, ONLINE, WEB, award_credit, credit_year
from terminals.credits.models import CreditEntry
from terminals.evidence.intervals import as_json, merge_intervals, total_length
from terminals.evidence.models import LessonProgress, PlaybackBeat, PlaybackSession
from terminals.evidence.rules import (
    BeatEvidence,
    RateLimits,
    SessionTally,
    advance,
    credit_beat,
    credit_beats,
)

# A beat's clock may run ahead of the server's by this much (the two clocks start a request
# apart); more is a forged or broken clock and the beat is refused.
CLOCK_TOLERANCE = 2.0
# Media times may end this far past the lesson's stored duration (containers round it).
DURATION_TOLERANCE = 1.0


def login_binding(login_token: str) -> str:
    """What a playback session keeps of the login session it was issued to."""
    return hashlib.sha256(b"playback:" + login_token.encode()).hexdigest()


def rate_limits() -> RateLimits:
    """The evidence rules' limits from the settings."""
    settings = get_settings()
    return RateLimits(
        max_rate=settings.credit_max_rate,
        beat_slack=settings.credit_beat_slack_seconds,
        session_slack=settings.credit_session_slack_seconds,
    )


def studying_member(*, session: Session, user: User) -> Member:
    """The active member record the user studies as; PermissionDenied for other accounts."""
    member = session.scalar(select(Member).where(Member.user_id == user.id, Member.active))
    if member is None:
        raise PermissionDenied(N_("Only a member's own account earns study credits."))
    return member


def lesson_credit_hours(lesson: Lesson) -> float:
    """The hours a lesson earns: as set on it, or by its length."""
    if lesson.credit_hours is not None:
        return lesson.credit_hours
    return credit_hours_for(lesson.duration or 0.0)


def start_session(
    *, session: Session, user: User, lesson: Lesson, login_token: str, now: datetime
) -> PlaybackSession:
    """Issue a playback session of a lesson the caller may see (the caller checked that); the
    member's other active session ends, so one member plays one lesson at a time."""
    member = studying_member(session=session, user=user)
    if lesson.status is not LessonStatus.ready or not lesson.duration:
        raise InvalidInput(N_("This lesson cannot be played yet."))
    session.execute(
        update(PlaybackSession)
        .where(PlaybackSession.member_id == member.id, PlaybackSession.ended_at.is_(None))
        .values(ended_at=now, end_reason="replaced")
    )
    playback = PlaybackSession(
        id=secrets.token_hex(16),
        member_id=member.id,
        user_id=user.id,
        login_binding=login_binding(login_token),
        lesson_id=lesson.id,
        duration=lesson.duration,
        year=credit_year(now),
        started_at=now,
    )
    session.add(playback)
    session.flush()
    _progress(session, playback)
    return playback


def _progress(session: Session, playback: PlaybackSession) -> LessonProgress:
    """The member's progress row for the session's lesson and year, made when first needed."""
    where = (
        LessonProgress.member_id == playback.member_id,
        LessonProgress.lesson_id == playback.lesson_id,
        LessonProgress.year == playback.year,
    )
    found = session.scalar(select(LessonProgress).where(*where))
    if found is not None:
        return found
    progress = LessonProgress(
        member_id=playback.member_id,
        lesson_id=playback.lesson_id,
        year=playback.year,
        covered=[],
        covered_seconds=0.0,
        duration=playback.duration,
    )
    try:
        with session.begin_nested():
            session.add(progress)
    except IntegrityError:
        return session.scalars(select(LessonProgress).where(*where)).one()
    return progress


@dataclass(frozen=True)
class BeatInput:
    """A beat as the player sends it (shape checked by the schema)."""

    session_id: str
    seq: int
    clock: float
    position: float
    rate: float
    visible: bool
    event: str = "tick"
    intervals: Sequence[Sequence[float]] = field(default_factory=list)


@dataclass(frozen=True)
class BeatOutcome:
    """What the server made of a beat: stored now or before, what it earned, the member's
    coverage of the lesson, and the hours awarded when this beat completed it."""

    stored: bool
    duplicate: bool
    credited_seconds: float
    coverage: float
    awarded_hours: float | None = None


def record_beat(
    *, session: Session, user: User, login_token: str, beat: BeatInput, now: datetime
) -> BeatOutcome:
    """Store a beat once per (session, seq) and update the member's credited coverage.

    The first statement locks the session row (an UPDATE), so beats of one session are taken
    one at a time on both engines; a resent beat is acknowledged without effect."""
    binding = login_binding(login_token)
    touched = session.execute(
        update(PlaybackSession)
        .where(
            PlaybackSession.id == beat.session_id,
            PlaybackSession.user_id == user.id,
            PlaybackSession.login_binding == binding,
            PlaybackSession.ended_at.is_(None),
        )
        .values(last_beat_at=now)
        .execution_options(synchronize_session=False)
    )
    if not touched.rowcount:  # type: ignore[attr-defined]
        return _refused_or_duplicate(session, user, binding, beat)
    playback = session.get_one(PlaybackSession, beat.session_id, populate_existing=True)
    stored = _stored_beat(session, beat)
    if stored is not None:
        return _acknowledge(session, playback, stored)
    _check_beat(playback, beat, now)
    row = PlaybackBeat(
        session_id=playback.id,
        seq=beat.seq,
        received_at=now,
        clock=beat.clock,
        event=beat.event,
        position=beat.position,
        rate=beat.rate,
        visible=beat.visible,
        intervals=[[float(a), float(b)] for a, b in beat.intervals],
        credited=[],
    )
    playback.last_position = beat.position
    with session.no_autoflush:  # one flush at commit, not one per query
        progress = _progress(session, playback)
    session.add(row)
    if beat.seq > playback.last_seq:
        earned = _credit_next(playback, row, progress)
    else:  # a beat that arrives after later ones: the session's credit is worked out again
        session.flush()
        _recredit_session(session, playback)
        _rebuild_progress(session, progress)
        earned = total_length(row.credited)
    progress.updated_at = now
    awarded = _award_if_covered(session, playback, progress, now)
    return BeatOutcome(
        stored=True,
        duplicate=False,
        credited_seconds=round(earned, 3),
        coverage=_coverage(progress),
        awarded_hours=awarded,
    )


def _refused_or_duplicate(
    session: Session, user: User, binding: str, beat: BeatInput
) -> BeatOutcome:
    """Why a beat could not be taken: no such session, someone else's, or ended. A beat already
    stored before its session ended is still acknowledged."""
    playback = session.get(PlaybackSession, beat.session_id)
    if playback is None:
        raise NotFound(N_("Playback session not found: reload the page to study again."))
    if playback.user_id != user.id or playback.login_binding != binding:
        raise PermissionDenied(N_("This playback session belongs to another login."))
    stored = _stored_beat(session, beat)
    if stored is not None:
        return _acknowledge(session, playback, stored)
    raise SessionEnded(
        N_(
            "This playback session has ended (the lesson was opened again elsewhere): "
            "this beat earns nothing."
        )
    )


def _stored_beat(session: Session, beat: BeatInput) -> PlaybackBeat | None:
    return session.scalar(
        select(PlaybackBeat).where(
            PlaybackBeat.session_id == beat.session_id, PlaybackBeat.seq == beat.seq
        )
    )


def _acknowledge(session: Session, playback: PlaybackSession, stored: PlaybackBeat) -> BeatOutcome:
    progress = session.scalar(
        select(LessonProgress).where(
            LessonProgress.member_id == playback.member_id,
            LessonProgress.lesson_id == playback.lesson_id,
            LessonProgress.year == playback.year,
        )
    )
    return BeatOutcome(
        stored=False,
        duplicate=True,
        credited_seconds=round(total_length(stored.credited), 3),
        coverage=_coverage(progress) if progress is not None else 0.0,
    )


def _check_beat(playback: PlaybackSession, beat: BeatInput, now: datetime) -> None:
    check_beat(duration=playback.duration, started_at=playback.started_at, beat=beat, now=now)


def check_beat(*, duration: float, started_at: datetime, beat: BeatInput, now: datetime) -> None:
    """Refuse what no honest player sends: media past the lesson's end, a clock ahead of the
    server's."""
    end = duration + DURATION_TOLERANCE
    if beat.position > end or any(b > end for _a, b in beat.intervals):
        raise InvalidInput(
            N_("The beat reports media past the end of the lesson (%(duration)s s)."),
            duration=round(duration),
        )
    if beat.clock > (now - started_at).total_seconds() + CLOCK_TOLERANCE:
        raise InvalidInput(N_("The beat's clock is ahead of the server's: it is refused."))


def _evidence(row: PlaybackBeat) -> BeatEvidence:
    return BeatEvidence(seq=row.seq, clock=row.clock, visible=row.visible, intervals=row.intervals)


def _credit_next(playback: PlaybackSession, row: PlaybackBeat, progress: LessonProgress) -> float:
    """Credit a beat that follows every stored one: from the session's tally, no re-reading."""
    tally = SessionTally(clock=playback.last_clock, played=playback.played_seconds)
    evidence = _evidence(row)
    credit = credit_beat(evidence, tally, rate_limits())
    after = advance(tally, evidence, credit)
    row.credited = as_json(credit.credited)
    earned = total_length(credit.credited)
    playback.last_seq = row.seq
    playback.last_clock, playback.played_seconds = after.clock, after.played
    playback.credited_seconds += earned
    if credit.credited:
        covered = merge_intervals([*progress.covered, *credit.credited])
        progress.covered = as_json(covered)
        progress.covered_seconds = round(total_length(covered), 3)
    return earned


def _recredit_session(session: Session, playback: PlaybackSession) -> None:
    """Work out the credit of all the session's stored beats again, in sequence order."""
    rows = list(session.scalars(select(PlaybackBeat).where(PlaybackBeat.session_id == playback.id)))
    credits, tally = credit_beats([_evidence(row) for row in rows], rate_limits())
    by_seq = {credit.seq: credit for credit in credits}
    for row in rows:
        row.credited = as_json(by_seq[row.seq].credited)
    playback.last_seq = max(row.seq for row in rows)
    playback.last_clock, playback.played_seconds = tally.clock, tally.played
    playback.credited_seconds = sum(total_length(c.credited) for c in credits)


def _rebuild_progress(session: Session, progress: LessonProgress) -> None:
    """The member's coverage of the lesson in the year from every stored beat again."""
    credited = session.scalars(
        select(PlaybackBeat.credited)
        .join(PlaybackSession, PlaybackSession.id == PlaybackBeat.session_id)
        .where(
            PlaybackSession.member_id == progress.member_id,
            PlaybackSession.lesson_id == progress.lesson_id,
            PlaybackSession.year == progress.year,
        )
    )
    covered = merge_intervals(span for spans in credited for span in spans)
    progress.covered = as_json(covered)
    progress.covered_seconds = round(total_length(covered), 3)


def _coverage(progress: LessonProgress) -> float:
    return coverage_of(progress.covered_seconds, progress.duration)


def coverage_of(covered_seconds: float, duration: float) -> float:
    """The share of a lesson covered, as answered to the player (0 for a lesson of no length)."""
    return round(min(1.0, covered_seconds / duration), 4) if duration else 0.0


def _award_if_covered(
    session: Session, playback: PlaybackSession, progress: LessonProgress, now: datetime
) -> float | None:
    """Award the lesson's hours when coverage first reaches the threshold; None otherwise."""
    return award_if_covered(
        session=session,
        member_id=playback.member_id,
        lesson_id=playback.lesson_id,
        playback_id=playback.id,
        year=progress.year,
        coverage=_coverage(progress),
        covered_seconds=progress.covered_seconds,
        now=now,
    )


def award_if_covered(
    *,
    session: Session,
    member_id: int,
    lesson_id: int,
    playback_id: str,
    year: int,
    coverage: float,
    covered_seconds: float,
    now: datetime,
) -> float | None:
    """Award a lesson's hours to a member the first time their coverage of it in the year
    reaches the threshold; the hours awarded, or None. A live event's recording earns as the
    event does (its key and daily cap), so nobody earns an event twice by watching it again."""
    if coverage < get_settings().credit_coverage_threshold:
        return None
    lesson = session.get_one(Lesson, lesson_id)
    key = lesson.credit_key or f"lesson:{lesson_id}"
    already = session.scalar(
        select(CreditEntry.id).where(
            CreditEntry.member_id == member_id,
            CreditEntry.year == year,
            CreditEntry.award_key == key,
        )
    )
    if already is not None:
        return None
    entry = award_credit(
        session=session,
        member_id=member_id,
        source=WEB,
        source_ref=f"session:{playback_id}",
        award_key=key,
        hours=lesson_credit_hours(lesson),
        category=LIVE_EVENT if lesson.credit_key else ONLINE,
        occurred_at=now,
        lesson_id=lesson.id,
        year=year,
        detail={"coverage": coverage, "covered_seconds": covered_seconds},
    )
    return entry.hours


def lesson_coverage(*, session: Session, playback: PlaybackSession) -> float:
    """The member's credited coverage so far of the session's lesson in its year."""
    return _coverage(_progress(session, playback))
