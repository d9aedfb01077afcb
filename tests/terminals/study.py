"""Builders for the study-evidence tests: a member with a login of their own, a lesson, and the
beats an honest player sends while it plays."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from core.people.models import Duty, Member, Organisation, Role, User
from core.security import hash_id_number, mask_id_number
from courseware.models import Lesson
from terminals.evidence.models import PlaybackSession
from terminals.evidence.service import BeatInput, start_session
from tests.factories import id_number, make_user

LOGIN_TOKEN = "login-token-of-the-test-browser"
T0 = datetime(2026, 5, 5, 1, 0, tzinfo=UTC)  # 09:00 on a fixed study day in Beijing


def make_member(
    session: Session,
    org: Organisation,
    name: str,
    serial: int,
    login: str | None = None,
    duty: Duty = Duty.member,
) -> tuple[Member, User | None]:
    """A committed member of `org`; with `login`, linked to an account holding the member role
    there (how the learners' part gives members logins is not needed here)."""
    user = make_user(session, login, Role.member, org) if login else None
    number = id_number(serial)
    member = Member(
        org_id=org.id,
        name=name,
        id_number_hash=hash_id_number(number, key="test-id-hash-key-0123456789abcdef"),
        id_number_masked=mask_id_number(number),
        user_id=user.id if user else None,
        duty=duty,
    )
    session.add(member)
    session.commit()
    return member, user


@dataclass(frozen=True)
class Beat:
    """A beat and the server time it reaches the server at."""

    input: BeatInput
    at: datetime


def honest_beats(
    playback: PlaybackSession,
    *,
    start: float = 0.0,
    seconds: float | None = None,
    rate: float = 1.0,
    every: float = 10.0,
    started: datetime = T0,
) -> list[Beat]:
    """The beats of a player that plays from `start` for `seconds` of wall time at `rate`,
    beating every `every` seconds and once when it ends; each arrives 0.2 s after it is sent."""
    wall = seconds if seconds is not None else (playback.duration - start) / rate
    beats, seq, clock, position = [], 0, 0.0, start
    while clock < wall - 1e-9:
        step = min(every, wall - clock)
        end = min(playback.duration, position + step * rate)
        clock += step
        seq += 1
        beats.append(
            Beat(
                BeatInput(
                    session_id=playback.id,
                    seq=seq,
                    clock=round(clock, 3),
                    position=round(end, 3),
                    rate=rate,
                    visible=True,
                    event="tick" if clock < wall - 1e-9 else "ended",
                    intervals=[(round(position, 3), round(end, 3))],
                ),
                started + timedelta(seconds=clock + 0.2),
            )
        )
        position = end
    return beats


def begin(session: Session, user: User, lesson: Lesson, at: datetime = T0) -> PlaybackSession:
    """A playback session issued at `at`, committed."""
    playback = start_session(
        session=session, user=user, lesson=lesson, login_token=LOGIN_TOKEN, now=at
    )
    session.commit()
    return playback
