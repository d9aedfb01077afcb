"""A group of beats stored in one transaction with a handful of statements, whatever its size.

The common beat is an honest one that follows every stored beat of its session: for it the rules
need only the session's running tally and the member's progress row. A group therefore:

1. locks the sessions it touches (one UPDATE of their `last_beat_at`: the row locks on
   PostgreSQL, in id order, the file's write lock on SQLite, taken before anything is read, so
   no other writer can change what is read next);
2. reads, one query each, the login sessions of its tokens, its playback sessions and the
   progress rows of their lessons (a session's `last_seq` is the highest sequence number stored
   for it, so a beat numbered above it is new: no beat needs looking up);
3. applies the evidence rules to each beat in arrival order, in memory (the same functions the
   beat-by-beat path uses: rules.credit_beat, rules.advance, merge_intervals);
4. writes the new beats with one multi-row INSERT and the sessions' and progress rows' new state
   with one executemany UPDATE each.

Any other beat (a resent or late one, a refused login or session, a lesson reaching its credit
threshold, a progress row not made yet) goes through service.record_beat in a savepoint, after
the pending rows are written and with the in-memory state dropped, so it sees exactly what the
beat-by-beat path would; the state is read again afterwards. Nothing is written for a beat that
the rules refuse (InvalidInput), so it needs no savepoint.
"""

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.people.accounts import SESSION_TOUCH_INTERVAL
from core.people.models import User, UserSession
from core.settings import get_settings
from terminals.evidence.intervals import as_json, merge_intervals, total_length
from terminals.evidence.models import LessonProgress, PlaybackBeat, PlaybackSession
from terminals.evidence.rules import BeatEvidence, SessionTally, advance, credit_beat
from terminals.evidence.service import (
    BeatInput,
    BeatOutcome,
    check_beat,
    coverage_of,
    login_binding,
    rate_limits,
)

SESSIONS = cast(Table, PlaybackSession.__table__)
BEATS = cast(Table, PlaybackBeat.__table__)
PROGRESS = cast(Table, LessonProgress.__table__)
USERS = cast(Table, User.__table__)
LOGINS = cast(Table, UserSession.__table__)

_SAVE_SESSION = (
    update(SESSIONS)
    .where(SESSIONS.c.id == bindparam("b_id"))
    .values(
        last_seq=bindparam("n_last_seq"),
        last_clock=bindparam("n_last_clock"),
        played_seconds=bindparam("n_played_seconds"),
        credited_seconds=bindparam("n_credited_seconds"),
        last_position=bindparam("n_last_position"),
        last_beat_at=bindparam("n_last_beat_at"),
    )
)
_SAVE_PROGRESS = (
    update(PROGRESS)
    .where(PROGRESS.c.id == bindparam("b_id"))
    .values(
        covered=bindparam("n_covered", type_=PROGRESS.c.covered.type),
        covered_seconds=bindparam("n_covered_seconds"),
        updated_at=bindparam("n_updated_at"),
    )
)
_TOUCH_LOGIN = (
    update(LOGINS)
    .where(LOGINS.c.id == bindparam("b_id"))
    .values(last_seen_at=bindparam("n_last_seen_at"))
)


@dataclass
class Login:
    """An open login session of an active user, as a beat needs it."""

    user_id: int
    must_change_password: bool
    login_session_id: int
    last_seen_at: datetime


@dataclass
class Tally:
    """A playback session's row, kept up to date in memory while the group runs."""

    id: str
    member_id: int
    user_id: int
    login_binding: str
    lesson_id: int
    duration: float
    year: int
    started_at: datetime
    ended: bool
    last_seq: int
    last_clock: float
    played_seconds: float
    credited_seconds: float
    last_position: float
    changed: bool = False


@dataclass
class Progress:
    """A member's progress row for a lesson and year, kept up to date in memory."""

    id: int
    covered: list[list[float]]
    covered_seconds: float
    duration: float
    changed: bool = False


Outcome = BeatOutcome | Exception
SlowPath = Callable[[Session, str, BeatInput, datetime], BeatOutcome]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class BeatGroup:
    """The state of one group's transaction: what was read, what is to be written."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        # The transaction's connection, asked for once (asking the session costs a state check
        # per statement, a twentieth of the writer's time).
        self.connection: Connection = session.connection()
        self.now = now
        self.logins: dict[str, Login | None] = {}
        self.tallies: dict[str, Tally | None] = {}
        self.progress: dict[tuple[int, int, int], Progress | None] = {}
        self.new_beats: list[dict[str, Any]] = []
        self.limits = rate_limits()
        self.threshold = get_settings().credit_coverage_threshold

    def load(self, jobs: Iterable[tuple[str, BeatInput]]) -> None:
        """Lock the group's sessions and read everything its beats need, a query per table."""
        jobs = list(jobs)
        session_ids = sorted({beat.session_id for _token, beat in jobs} - set(self.tallies))
        if session_ids:
            # A no-op write: it only takes the locks. On PostgreSQL the sub-select takes them in
            # id order, whatever order the plan visits the rows in, so two groups never wait for
            # each other crosswise; on SQLite the write takes the file's lock.
            in_order = (
                select(SESSIONS.c.id)
                .where(SESSIONS.c.id.in_(session_ids))
                .order_by(SESSIONS.c.id)
                .with_for_update()
            )
            self.connection.execute(
                update(SESSIONS)
                .where(SESSIONS.c.id.in_(in_order))
                .values(last_beat_at=SESSIONS.c.last_beat_at)
            )
        self._load_logins({token for token, _beat in jobs} - set(self.logins))
        self._load_tallies(session_ids)
        self._load_progress()

    def _load_logins(self, tokens: set[str]) -> None:
        if not tokens:
            return
        by_hash = {_token_hash(token): token for token in tokens}
        users, logins = USERS, LOGINS
        rows = self.connection.execute(
            select(
                logins.c.token_hash,
                users.c.id,
                users.c.must_change_password,
                logins.c.id,
                logins.c.last_seen_at,
            )
            .join_from(logins, users, users.c.id == logins.c.user_id)
            .where(
                logins.c.token_hash.in_(list(by_hash)),
                logins.c.revoked_at.is_(None),
                logins.c.expires_at > self.now,
                users.c.active,
            )
        )
        self.logins.update(dict.fromkeys(tokens))
        for token_hash, user_id, must_change, login_id, last_seen in rows:
            self.logins[by_hash[token_hash]] = Login(user_id, must_change, login_id, last_seen)

    def _load_tallies(self, session_ids: list[str]) -> None:
        if not session_ids:
            return
        c = SESSIONS.c
        rows = self.connection.execute(
            select(
                c.id, c.member_id, c.user_id, c.login_binding, c.lesson_id, c.duration, c.year,
                c.started_at, c.ended_at.is_not(None), c.last_seq, c.last_clock,
                c.played_seconds, c.credited_seconds, c.last_position,
            ).where(c.id.in_(session_ids))
        )  # fmt: skip
        self.tallies.update(dict.fromkeys(session_ids))
        for row in rows:
            self.tallies[row[0]] = Tally(*row)

    def _load_progress(self) -> None:
        keys = {
            (tally.member_id, tally.lesson_id, tally.year)
            for tally in self.tallies.values()
            if tally is not None
        } - set(self.progress)
        if not keys:
            return
        c = PROGRESS.c
        rows = self.connection.execute(
            select(
                c.member_id, c.lesson_id, c.year, c.id, c.covered, c.covered_seconds, c.duration
            ).where(tuple_(c.member_id, c.lesson_id, c.year).in_(sorted(keys)))
        )
        self.progress.update(dict.fromkeys(keys))
        for member_id, lesson_id, year, *rest in rows:
            self.progress[(member_id, lesson_id, year)] = Progress(*rest)

    def forget(self) -> None:
        """Drop what was read (after a beat took the beat-by-beat path)."""
        self.logins.clear()
        self.tallies.clear()
        self.progress.clear()
        self.session.expire_all()

    def fast_outcome(self, token: str, beat: BeatInput) -> Outcome | None:
        """The outcome of a beat that the in-memory path can store (or refuse); None when it
        must take the beat-by-beat path."""
        login = self.logins.get(token)
        tally = self.tallies.get(beat.session_id)
        if (
            login is None
            or login.must_change_password
            or tally is None
            or tally.ended
            or tally.user_id != login.user_id
            or tally.login_binding != login_binding(token)
            or beat.seq <= tally.last_seq  # resent, or late: stored or credited again
        ):
            return None
        progress = self.progress.get((tally.member_id, tally.lesson_id, tally.year))
        if progress is None:
            return None
        try:
            check_beat(
                duration=tally.duration, started_at=tally.started_at, beat=beat, now=self.now
            )
        except Exception as exc:  # refused: nothing was written for it
            return exc
        intervals = [[float(a), float(b)] for a, b in beat.intervals]
        evidence = BeatEvidence(
            seq=beat.seq, clock=beat.clock, visible=beat.visible, intervals=intervals
        )
        credit = credit_beat(
            evidence, SessionTally(clock=tally.last_clock, played=tally.played_seconds), self.limits
        )
        covered = progress.covered
        if credit.credited:
            covered = as_json(merge_intervals([*progress.covered, *credit.credited]))
        covered_seconds = (
            round(total_length(covered), 3) if credit.credited else progress.covered_seconds
        )
        if coverage_of(covered_seconds, progress.duration) >= self.threshold:
            return None  # the lesson's credit may be due: the beat-by-beat path awards it
        after = advance(
            SessionTally(clock=tally.last_clock, played=tally.played_seconds), evidence, credit
        )
        earned = total_length(credit.credited)
        self.new_beats.append(
            {
                "session_id": beat.session_id,
                "seq": beat.seq,
                "received_at": self.now,
                "clock": beat.clock,
                "event": beat.event,
                "position": beat.position,
                "rate": beat.rate,
                "visible": beat.visible,
                "intervals": intervals,
                "credited": as_json(credit.credited),
            }
        )
        tally.last_seq, tally.last_clock, tally.played_seconds = beat.seq, after.clock, after.played
        tally.credited_seconds += earned
        tally.last_position = beat.position
        tally.changed = True
        progress.covered, progress.covered_seconds = covered, covered_seconds
        progress.changed = True
        return BeatOutcome(
            stored=True,
            duplicate=False,
            credited_seconds=round(earned, 3),
            coverage=coverage_of(progress.covered_seconds, progress.duration),
        )

    def write(self) -> None:
        """Write the pending beats and the changed sessions, progress rows and logins."""
        connection = self.connection
        if self.new_beats:
            connection.execute(insert(BEATS), self.new_beats)
            self.new_beats = []
        tallies = [t for t in self.tallies.values() if t is not None and t.changed]
        if tallies:
            connection.execute(
                _SAVE_SESSION,
                [
                    {
                        "b_id": t.id,
                        "n_last_seq": t.last_seq,
                        "n_last_clock": t.last_clock,
                        "n_played_seconds": t.played_seconds,
                        "n_credited_seconds": t.credited_seconds,
                        "n_last_position": t.last_position,
                        "n_last_beat_at": self.now,
                    }
                    for t in tallies
                ],
            )
            for t in tallies:
                t.changed = False
        progress = [p for p in self.progress.values() if p is not None and p.changed]
        if progress:
            connection.execute(
                _SAVE_PROGRESS,
                [
                    {
                        "b_id": p.id,
                        "n_covered": p.covered,
                        "n_covered_seconds": p.covered_seconds,
                        "n_updated_at": self.now,
                    }
                    for p in progress
                ],
            )
            for p in progress:
                p.changed = False
        stale = [
            login
            for login in self.logins.values()
            if login is not None and login.last_seen_at < self.now - SESSION_TOUCH_INTERVAL
        ]
        if stale:
            connection.execute(
                _TOUCH_LOGIN,
                [{"b_id": s.login_session_id, "n_last_seen_at": self.now} for s in stale],
            )
            for login in stale:
                login.last_seen_at = self.now


def store_group(
    session: Session,
    jobs: list[tuple[str, BeatInput]],
    slow_path: SlowPath,
    now: datetime | None = None,
) -> list[Outcome]:
    """Store a group's beats (login token, beat) in the caller's transaction, received at `now`;
    each beat's outcome or refusal, in order. `slow_path` stores one beat the beat-by-beat way
    (it runs in a savepoint here)."""
    group = BeatGroup(session, now or utcnow())
    group.load(jobs)
    outcomes: list[Outcome] = []
    for token, beat in jobs:
        outcome = group.fast_outcome(token, beat)
        if outcome is None:
            group.write()
            group.forget()
            try:
                with session.begin_nested():
                    outcome = slow_path(session, token, beat, group.now)
            except Exception as exc:  # this beat alone is refused; its savepoint is undone
                outcome = exc
            session.flush()
            group.load(jobs)
        outcomes.append(outcome)
    group.write()
    return outcomes
