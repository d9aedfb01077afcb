"""Study evidence: what beats earn, and what never does (seeking, speed, two tabs, forged
intervals and clocks, a hidden page, someone else's session)."""

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound, PermissionDenied
from core.people.models import Role, User
from courseware.models import Lesson, LessonStatus
from terminals.credits.errors import SessionEnded
from terminals.credits.models import CreditEntry
from terminals.evidence.models import PlaybackBeat
from terminals.evidence.service import BeatInput, BeatOutcome, record_beat
from tests.factories import Tree, make_course, make_lesson, make_user
from tests.terminals.study import LOGIN_TOKEN, T0, Beat, begin, honest_beats, make_member

DURATION = 600.0


@pytest.fixture
def learner(session: Session, tree: Tree) -> User:
    _member, user = make_member(session, tree.branch, "张三", 1, login="zhang")
    assert user is not None
    return user


@pytest.fixture
def lesson(session: Session, tree: Tree) -> Lesson:
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    course = make_course(session, publisher, tree.town)
    return make_lesson(session, course, duration=DURATION, credit_hours=1.5)


def send(session: Session, user: User, beat: Beat, token: str = LOGIN_TOKEN) -> BeatOutcome:
    outcome = record_beat(
        session=session, user=user, login_token=token, beat=beat.input, now=beat.at
    )
    session.commit()
    return outcome


def ledger(session: Session) -> list[tuple[int, int, str | None, float]]:
    rows = session.scalars(select(CreditEntry).order_by(CreditEntry.id))
    return [(e.member_id, e.year, e.award_key, e.hours) for e in rows]


def test_playing_the_whole_lesson_awards_its_hours_once(
    session: Session, learner: User, lesson: Lesson
) -> None:
    playback = begin(session, learner, lesson)
    outcomes = [send(session, learner, beat) for beat in honest_beats(playback)]
    awarded = [o.awarded_hours for o in outcomes if o.awarded_hours is not None]
    assert awarded == [1.5]
    # 90 % is reached at 540 s: the beat that crosses it awards, later ones do not again.
    assert outcomes[53].awarded_hours == 1.5 and outcomes[-1].coverage == 1.0
    again = begin(session, learner, lesson, at=T0 + timedelta(hours=1))
    for beat in honest_beats(again, started=T0 + timedelta(hours=1)):
        send(session, learner, beat)
    assert len(ledger(session)) == 1


def test_a_resent_beat_is_acknowledged_and_counted_once(
    session: Session, learner: User, lesson: Lesson
) -> None:
    playback = begin(session, learner, lesson)
    first, second = honest_beats(playback)[:2]
    assert send(session, learner, first).credited_seconds == 10
    again = send(session, learner, replace(first, at=first.at + timedelta(seconds=30)))
    assert again.duplicate and not again.stored and again.credited_seconds == 10
    send(session, learner, second)
    assert session.scalar(select(PlaybackBeat.id).where(PlaybackBeat.seq == 1)) is not None
    assert len(list(session.scalars(select(PlaybackBeat)))) == 2


def test_seeking_to_the_end_earns_only_what_was_played(
    session: Session, learner: User, lesson: Lesson
) -> None:
    playback = begin(session, learner, lesson)
    beats = [
        Beat(
            BeatInput(playback.id, 1, 5.0, 595.0, 1.0, True, "seek", [(0, 5)]),
            T0 + timedelta(seconds=5.2),
        ),
        Beat(
            BeatInput(playback.id, 2, 10.0, 600.0, 1.0, True, "ended", [(595, 600)]),
            T0 + timedelta(seconds=10.2),
        ),
    ]
    outcomes = [send(session, learner, beat) for beat in beats]
    assert outcomes[-1].coverage == pytest.approx(10 / DURATION, abs=1e-3)
    assert ledger(session) == []


def test_sixteen_times_speed_is_cut_to_what_wall_time_allows(
    session: Session, learner: User, lesson: Lesson
) -> None:
    playback = begin(session, learner, lesson)
    outcomes = [send(session, learner, b) for b in honest_beats(playback, rate=16.0)]
    # 600 s of media in 37.5 s of wall time: at most 2x + 2 s per beat is kept.
    assert sum(o.credited_seconds for o in outcomes) <= 2 * 37.5 + 2 * len(outcomes)
    assert ledger(session) == []


def test_double_speed_still_earns(session: Session, learner: User, lesson: Lesson) -> None:
    playback = begin(session, learner, lesson)
    outcomes = [send(session, learner, b) for b in honest_beats(playback, rate=2.0)]
    assert outcomes[-1].coverage == 1.0 and ledger(session)[0][3] == 1.5


def test_a_second_tab_ends_the_first_whose_beats_then_earn_nothing(
    session: Session, learner: User, lesson: Lesson
) -> None:
    first = begin(session, learner, lesson)
    second = begin(session, learner, lesson, at=T0 + timedelta(seconds=1))
    beats_first = honest_beats(first)
    beats_second = honest_beats(second, start=300.0, started=T0 + timedelta(seconds=1))
    with pytest.raises(SessionEnded):
        send(session, learner, beats_first[0])
    session.rollback()
    for beat in beats_second:
        send(session, learner, beat)
    # Only the second half was played in the live tab: no award.
    assert ledger(session) == []


def test_intervals_past_the_end_or_ahead_of_wall_time_are_refused(
    session: Session, learner: User, lesson: Lesson
) -> None:
    playback = begin(session, learner, lesson)
    past_end = BeatInput(playback.id, 1, 10.0, 10.0, 1.0, True, "tick", [(0, 10), (600, 700)])
    with pytest.raises(InvalidInput):
        send(session, learner, Beat(past_end, T0 + timedelta(seconds=10.2)))
    session.rollback()
    ahead = BeatInput(playback.id, 1, 600.0, 600.0, 1.0, True, "tick", [(0, 600)])
    with pytest.raises(InvalidInput):
        send(session, learner, Beat(ahead, T0 + timedelta(seconds=10.2)))
    session.rollback()
    # A whole lesson claimed in one beat 10 s in: cut to what 10 s allow.
    forged = BeatInput(playback.id, 1, 10.0, 600.0, 1.0, True, "tick", [(0, 600)])
    outcome = send(session, learner, Beat(forged, T0 + timedelta(seconds=10.2)))
    assert outcome.credited_seconds == pytest.approx(22.0)
    assert ledger(session) == [] and len(list(session.scalars(select(PlaybackBeat)))) == 1


def test_pausing_then_claiming_the_pause_as_play_is_cut(
    session: Session, learner: User, lesson: Lesson
) -> None:
    playback = begin(session, learner, lesson)
    late = BeatInput(playback.id, 1, 550.0, 600.0, 1.0, True, "tick", [(0, 600)])
    outcome = send(session, learner, Beat(late, T0 + timedelta(seconds=551)))
    assert outcome.credited_seconds == pytest.approx(62.0)  # 2 x 30 s window + 2 s
    assert ledger(session) == []


def test_a_hidden_page_earns_nothing(session: Session, learner: User, lesson: Lesson) -> None:
    playback = begin(session, learner, lesson)
    for beat in honest_beats(playback):
        send(session, learner, replace(beat, input=replace(beat.input, visible=False)))
    assert ledger(session) == []


def test_a_beat_on_another_members_session_is_refused(
    session: Session, tree: Tree, learner: User, lesson: Lesson
) -> None:
    _other, intruder = make_member(session, tree.branch, "李四", 2, login="li")
    assert intruder is not None
    playback = begin(session, learner, lesson)
    beat = honest_beats(playback)[0]
    with pytest.raises(PermissionDenied):
        send(session, intruder, beat, token="intruder-token")
    session.rollback()
    with pytest.raises(PermissionDenied):  # the owner's account from another login session
        send(session, learner, beat, token="another-browser")
    session.rollback()
    with pytest.raises(NotFound):
        send(session, learner, replace(beat, input=replace(beat.input, session_id="0" * 32)))
    session.rollback()
    assert list(session.scalars(select(PlaybackBeat))) == []


def test_only_members_study_and_only_ready_lessons(
    session: Session, tree: Tree, learner: User, lesson: Lesson
) -> None:
    admin = make_user(session, "adm", Role.org_admin, tree.town)
    with pytest.raises(PermissionDenied):
        begin(session, admin, lesson)
    session.rollback()
    lesson.status = LessonStatus.processing
    session.commit()
    with pytest.raises(InvalidInput):
        begin(session, learner, lesson)


def test_the_daily_cap_limits_what_an_award_gives(
    session: Session, learner: User, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings

    monkeypatch.setattr(get_settings(), "credit_daily_caps", {"online": 2.0})
    publisher = make_user(session, "pub2", Role.publisher, tree.town)
    course = make_course(session, publisher, tree.town)
    lessons = [
        make_lesson(session, course, f"课{i}", duration=60.0, credit_hours=1.5) for i in range(2)
    ]
    at = T0
    for lesson in lessons:
        playback = begin(session, learner, lesson, at=at)
        for beat in honest_beats(playback, started=at):
            send(session, learner, beat)
        at += timedelta(minutes=2)
    hours = [entry[3] for entry in ledger(session)]
    assert hours == [1.5, 0.5]


def test_the_ledger_refuses_an_update(session: Session, learner: User, lesson: Lesson) -> None:
    playback = begin(session, learner, lesson)
    for beat in honest_beats(playback):
        send(session, learner, beat)
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(text("UPDATE credit_entries SET hours = 99"))
    session.rollback()
    assert ledger(session)[0][3] == 1.5
