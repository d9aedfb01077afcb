"""Group sessions (集中学习) at a site: start, roll call, playback, end — the rules, offline.

State lives in the outbox database, and every change writes its outbox record in the same
SQLite transaction, so a session, a check-in or an interval is either both kept locally and
queued for the server, or neither. Rules: one open session at a time; it plays lessons the site
holds; a member of the roster checks in once per session (by list, QR or typed code); a session
that was never started, or has ended, cannot be ended or checked into.
"""

import base64
import hmac
import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.people.checkin import check_value, parse_presented
from terminals.agent.outbox import Outbox, insert_record
from terminals.agent.state import AgentDir

SCHEMA = """
CREATE TABLE IF NOT EXISTS group_sessions (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    lesson_ids TEXT NOT NULL,
    administrator TEXT NOT NULL DEFAULT '',
    expected INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE TABLE IF NOT EXISTS checkins (
    session_id TEXT NOT NULL,
    member_id INTEGER NOT NULL,
    method TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (session_id, member_id)
);
CREATE TABLE IF NOT EXISTS playbacks (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    lesson_id INTEGER NOT NULL,
    issued_at TEXT NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS frame_marks (
    session_id TEXT NOT NULL,
    lesson_id INTEGER NOT NULL,
    mark TEXT NOT NULL,
    PRIMARY KEY (session_id, lesson_id, mark)
);
CREATE TABLE IF NOT EXISTS positions (
    lesson_id INTEGER PRIMARY KEY,
    seconds INTEGER NOT NULL
);
"""
TITLE_LIMIT = 200
MAX_INTERVALS = 200  # per beat; a beat every 10 s holds a handful


class SessionRefused(InvalidInput):
    """A group-session rule was broken (the message says which)."""


@dataclass(frozen=True)
class GroupSession:
    """A session as the pages show it."""

    id: str
    title: str
    lesson_ids: list[int]
    expected: int
    started_at: str
    ended_at: str | None
    present: dict[int, str]  # member id -> method


@dataclass(frozen=True)
class FrameMark:
    """A place in a lesson where proof of play is captured once per session."""

    session_id: str
    lesson_id: int
    mark: str  # start, middle, end
    position: float


def now() -> datetime:
    """The site machine's clock (aware)."""
    return datetime.now(UTC)


def frame_positions(duration: float) -> dict[str, float]:
    """Where the start, middle and end frames are taken in a lesson of `duration` seconds."""
    if duration <= 0:
        return {}
    return {
        "start": round(min(2.0, duration / 10), 3),
        "middle": round(duration / 2, 3),
        "end": round(max(0.0, duration - min(2.0, duration / 10)), 3),
    }


class GroupSessions:
    """The site's group sessions, kept in the agent's outbox database."""

    def __init__(self, agent_dir: AgentDir) -> None:
        self.agent_dir = agent_dir
        self.outbox = Outbox(agent_dir.outbox_path)
        with self.outbox.transaction() as db:
            for statement in _statements():
                db.execute(statement)

    # --- what the site holds ----------------------------------------------------------------

    def lessons(self) -> dict[int, dict[str, Any]]:
        """Lessons of the last manifest that are wholly on disk, by id."""
        return {
            int(lesson["id"]): lesson
            for lesson in self.agent_dir.index().get("lessons", [])
            if lesson.get("complete")
        }

    def members(self) -> dict[int, dict[str, Any]]:
        """The roster's members by id."""
        return {int(m["id"]): m for m in self.agent_dir.roster().get("members", [])}

    # --- sessions -----------------------------------------------------------------------------

    def current(self) -> GroupSession | None:
        """The open session, if any."""
        with self.outbox.transaction() as db:
            row = db.execute("SELECT id FROM group_sessions WHERE ended_at IS NULL").fetchone()
        return self.get(row[0]) if row else None

    def get(self, session_id: str) -> GroupSession:
        """A session by id; NotFound for an unknown one."""
        with self.outbox.transaction() as db:
            row = db.execute(
                "SELECT id, title, lesson_ids, expected, started_at, ended_at "
                "FROM group_sessions WHERE id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                raise NotFound(N_("No group session %(id)s."), id=session_id)
            present = dict(
                db.execute(
                    "SELECT member_id, method FROM checkins WHERE session_id = ? ORDER BY at",
                    (session_id,),
                ).fetchall()
            )
        return GroupSession(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], present)

    def recent(self, limit: int = 10) -> list[GroupSession]:
        """The latest sessions, newest first."""
        with self.outbox.transaction() as db:
            ids = db.execute(
                "SELECT id FROM group_sessions ORDER BY started_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [self.get(i) for (i,) in ids]

    def start(self, *, title: str, lesson_ids: list[int], administrator: str = "") -> str:
        """Open a session that plays `lesson_ids` (held on disk); its id."""
        title = " ".join(title.split())
        if not title or len(title) > TITLE_LIMIT:
            raise SessionRefused(N_("Give the session a title of at most 200 characters."))
        wanted = list(dict.fromkeys(lesson_ids))
        if not wanted:
            raise SessionRefused(N_("Choose at least one lesson to play."))
        held = self.lessons()
        missing = [i for i in wanted if i not in held]
        if missing:
            raise SessionRefused(N_("Lesson %(id)s is not held on this machine."), id=missing[0])
        session_id = str(uuid.uuid4())
        at = now()
        expected = len(self.members())
        with self.outbox.transaction() as db:
            if db.execute("SELECT 1 FROM group_sessions WHERE ended_at IS NULL").fetchone():
                raise SessionRefused(N_("A group session is already open: end it first."))
            db.execute(
                "INSERT INTO group_sessions (id, title, lesson_ids, administrator, expected, "
                "started_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    title,
                    json.dumps(wanted),
                    administrator[:200],
                    expected,
                    at.isoformat(),
                ),
            )
            body = {
                "session_id": session_id,
                "event": "started",
                "at": at.isoformat(),
                "administrator": administrator[:200],
                "lesson_ids": wanted,
                "title": title,
                "expected": expected,
            }
            insert_record(db, "session", body, occurred_at=at)
        return session_id

    def end(self, session_id: str) -> None:
        """Close an open session."""
        at = now()
        with self.outbox.transaction() as db:
            row = db.execute(
                "SELECT ended_at, lesson_ids, administrator FROM group_sessions WHERE id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                raise SessionRefused(N_("That group session was never started."))
            if row[0] is not None:
                raise SessionRefused(N_("That group session has already ended."))
            present = db.execute(
                "SELECT count(*) FROM checkins WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
            db.execute(
                "UPDATE group_sessions SET ended_at = ? WHERE id = ?", (at.isoformat(), session_id)
            )
            body = {
                "session_id": session_id,
                "event": "ended",
                "at": at.isoformat(),
                "administrator": row[2],
                "lesson_ids": json.loads(row[1]),
                "present": int(present),
            }
            insert_record(db, "session", body, occurred_at=at)

    # --- roll call ----------------------------------------------------------------------------

    def check_in(self, session_id: str, member_id: int, method: str) -> dict[str, Any]:
        """Mark a roster member present (once per session); the member."""
        member = self.members().get(member_id)
        if member is None:
            raise SessionRefused(N_("That member is not on this site's roster."))
        at = now()
        with self.outbox.transaction() as db:
            row = db.execute(
                "SELECT ended_at FROM group_sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if row is None or row[0] is not None:
                raise SessionRefused(N_("Check-in needs an open group session."))
            try:
                db.execute(
                    "INSERT INTO checkins (session_id, member_id, method, at) VALUES (?, ?, ?, ?)",
                    (session_id, member_id, method, at.isoformat()),
                )
            except sqlite3.IntegrityError as exc:
                raise SessionRefused(
                    N_("%(name)s is already checked in."), name=member["name"]
                ) from exc
            body = {
                "session_id": session_id,
                "member_id": member_id,
                "method": method,
                "event": "in",
                "at": at.isoformat(),
            }
            insert_record(db, "attendance", body, occurred_at=at)
        return member

    def check_in_code(self, session_id: str, presented: str) -> dict[str, Any]:
        """Check in whoever a scanned QR text or typed code belongs to; the member."""
        parsed = parse_presented(presented)
        if parsed is None:
            raise SessionRefused(N_("That is not a check-in code: 8 digits, or a member QR code."))
        member_id, code = parsed
        match = self.match_code(member_id, code)
        if match is None:
            raise SessionRefused(N_("No member of this site has that check-in code."))
        return self.check_in(session_id, match, "qr" if member_id is not None else "pin")

    def match_code(self, member_id: int | None, code: str) -> int | None:
        """The roster member whose check value matches `code` (only `member_id` when given)."""
        roster = self.agent_dir.roster()
        params = roster.get("checkin") or {}
        try:
            salt = base64.b64decode(params["salt"])
            iterations = int(params["iterations"])
        except (KeyError, ValueError):
            return None
        for member in roster.get("members", []):
            if member_id is not None and member["id"] != member_id:
                continue
            value = check_value(
                salt=salt, member_id=int(member["id"]), code=code, iterations=iterations
            )
            if hmac.compare_digest(value, str(member.get("check", ""))):
                return int(member["id"])
        return None

    # --- playback evidence --------------------------------------------------------------------

    def issue_playback(self, lesson_id: int) -> str:
        """A playback id for the player's study beats: only a lesson of the open session is
        recorded (NotFound otherwise: the player then stops reporting)."""
        current = self.current()
        if current is None or lesson_id not in current.lesson_ids:
            raise NotFound(N_("No open group session plays this lesson."))
        playback = str(uuid.uuid4())
        with self.outbox.transaction() as db:
            db.execute(
                "INSERT INTO playbacks (id, session_id, lesson_id, issued_at) VALUES (?, ?, ?, ?)",
                (playback, current.id, lesson_id, now().isoformat()),
            )
        return playback

    def record_beat(self, beat: dict[str, Any]) -> list[FrameMark]:
        """Turn a player's study beat into interval records; the frame marks the beat's
        intervals newly cover (to capture). A replayed or older beat is ignored."""
        try:
            playback = str(uuid.UUID(str(beat["session_id"])))
            seq = int(beat["seq"])
            clock = float(beat.get("clock") or 0)
            rate = float(beat.get("rate") or 1)
            intervals = [(float(a), float(b)) for a, b in beat.get("intervals") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(N_("A study beat is malformed.")) from exc
        if len(intervals) > MAX_INTERVALS or not 0 < rate <= 16:
            raise InvalidInput(N_("A study beat is malformed."))
        marks: list[FrameMark] = []
        with self.outbox.transaction() as db:
            row = db.execute(
                "SELECT p.session_id, p.lesson_id, p.issued_at, p.last_seq, g.ended_at "
                "FROM playbacks p JOIN group_sessions g ON g.id = p.session_id WHERE p.id = ?",
                (playback,),
            ).fetchone()
            if row is None:
                raise NotFound(N_("No such playback."))
            session_id, lesson_id, issued_at, last_seq, ended_at = row
            if seq <= last_seq or ended_at is not None:
                return []  # a replay, or media played after the session ended: not evidence
            db.execute("UPDATE playbacks SET last_seq = ? WHERE id = ?", (seq, playback))
            # Wall times: the beat's clock is seconds since the playback was issued; the
            # intervals end at it, one after the other, each as long as its media at `rate`.
            end_wall = datetime.fromisoformat(issued_at) + timedelta(seconds=max(clock, 0))
            walls = []
            for start, stop in reversed(intervals):
                begin = end_wall - timedelta(seconds=max(stop - start, 0) / rate)
                walls.append(begin)
                end_wall = begin
            walls.reverse()
            duration = float(self.lessons().get(lesson_id, {}).get("duration") or 0)
            positions = frame_positions(duration)
            for (start, stop), began in zip(intervals, walls, strict=True):
                if stop <= start:
                    continue
                body = {
                    "session_id": session_id,
                    "lesson_id": lesson_id,
                    "media_start": round(max(start, 0), 3),
                    "media_end": round(stop, 3),
                    "started_at": began.isoformat(),
                    "rate": rate,
                    "playback_id": playback,
                    "beat_seq": seq,
                    "visible": bool(beat.get("visible", True)),
                }
                insert_record(db, "interval", body, occurred_at=began)
                for mark, position in positions.items():
                    if start - 0.5 <= position <= stop + 0.5:
                        cursor = db.execute(
                            "INSERT OR IGNORE INTO frame_marks VALUES (?, ?, ?)",
                            (session_id, lesson_id, mark),
                        )
                        if cursor.rowcount:
                            marks.append(FrameMark(session_id, lesson_id, mark, position))
        return marks

    def save_position(self, lesson_id: int, seconds: int) -> None:
        """Where the player stopped in a lesson (it resumes there on this machine)."""
        with self.outbox.transaction() as db:
            db.execute(
                "INSERT INTO positions VALUES (?, ?) "
                "ON CONFLICT (lesson_id) DO UPDATE SET seconds = excluded.seconds",
                (lesson_id, max(0, seconds)),
            )

    def position(self, lesson_id: int) -> int:
        """Where the player last stopped in a lesson."""
        with self.outbox.transaction() as db:
            row = db.execute(
                "SELECT seconds FROM positions WHERE lesson_id = ?", (lesson_id,)
            ).fetchone()
        return int(row[0]) if row else 0


def _statements() -> list[str]:
    return [s.strip() for s in SCHEMA.split(";") if s.strip()]
