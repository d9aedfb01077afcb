"""Property: however the beats of an honest player arrive — duplicated, reordered, some only
later, replayed after a restart (fresh sessions on a fresh app) — the ledger, the coverage and
the credit of every beat equal those of one clean upload in order."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core.db import new_session
from core.people.models import Role, User
from courseware.models import Lesson
from terminals.credits.models import CreditEntry
from terminals.evidence.models import LessonProgress, PlaybackBeat, PlaybackSession
from terminals.evidence.service import BeatInput, record_beat
from tests.conftest import wipe
from tests.factories import make_course, make_lesson, make_tree, make_user
from tests.terminals.study import LOGIN_TOKEN, T0, begin, make_member

DURATION = 120.0


@dataclass(frozen=True)
class Step:
    """One beat's worth of an honest player: wall seconds, rate, whether it played, a seek
    before it, and whether the page stayed visible."""

    wall: float
    rate: float
    playing: bool
    seek_to: float | None
    visible: bool


steps = st.lists(
    st.builds(
        Step,
        wall=st.sampled_from([10.0, 10.0, 10.0, 4.5, 1.0]),
        rate=st.sampled_from([1.0, 1.0, 1.5, 2.0, 0.75]),
        playing=st.sampled_from([True, True, True, False]),
        seek_to=st.one_of(*[st.none()] * 5, st.floats(0, DURATION - 1).map(lambda x: round(x, 1))),
        visible=st.sampled_from([True] * 6 + [False]),
    ),
    min_size=1,
    max_size=36,
)


def play(session_id: str, script: list[Step]) -> list[tuple[BeatInput, float]]:
    """The beats an honest player sends for `script`, each with its clean arrival (s after T0)."""
    beats, clock, position = [], 0.0, 0.0
    for seq, step in enumerate(script, start=1):
        if step.seek_to is not None:
            position = step.seek_to
        end = min(DURATION, position + step.wall * step.rate) if step.playing else position
        clock += step.wall
        intervals = [(position, end)] if end > position else []
        beat = BeatInput(
            session_id, seq, round(clock, 3), end, step.rate, step.visible, "tick", intervals
        )
        beats.append((beat, clock + 0.1))
        position = end
    return beats


def outcome(member_id: int) -> tuple[object, ...]:
    """What the evidence came to for a member: ledger rows, coverage, each beat's credit."""
    with new_session() as session:
        entries = session.scalars(select(CreditEntry).where(CreditEntry.member_id == member_id))
        ledger = sorted((e.year, e.award_key, e.hours, e.category, e.source) for e in entries)
        progress = session.scalars(
            select(LessonProgress.covered).where(LessonProgress.member_id == member_id)
        ).all()
        credited = session.execute(
            select(PlaybackBeat.seq, PlaybackBeat.credited)
            .join(PlaybackSession)
            .where(PlaybackSession.member_id == member_id)
            .order_by(PlaybackBeat.seq)
        ).all()
        return ledger, progress, [tuple(map(tuple, c)) for _s, c in credited]


def deliver(user: User, beat: BeatInput, at: datetime) -> None:
    """One delivery in a session of its own, as a request (on any app instance) would."""
    with new_session() as session:
        record_beat(session=session, user=user, login_token=LOGIN_TOKEN, beat=beat, now=at)
        session.commit()


def scenario() -> tuple[User, User, Lesson]:
    with new_session() as session:
        tree = make_tree(session)
        publisher = make_user(session, "pub", Role.publisher, tree.town)
        course = make_course(session, publisher, tree.town)
        lesson = make_lesson(session, course, duration=DURATION, credit_hours=2.0)
        _a, clean = make_member(session, tree.branch, "甲", 1, login="clean")
        _b, messy = make_member(session, tree.branch, "乙", 2, login="messy")
        assert clean is not None and messy is not None
        return clean, messy, lesson


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps, data=st.data())
def test_any_delivery_of_the_same_beats_gives_the_same_ledger(
    script: list[Step], data: st.DataObject
) -> None:
    if data.draw(st.booleans(), label="then play the lesson through"):
        script = [*script, Step(10.0, 1.0, True, 0.0, True)] + [
            Step(10.0, 1.0, True, None, True)
        ] * 12
    try:
        clean_user, messy_user, lesson = scenario()
        with new_session() as session:
            clean = begin(session, clean_user, lesson)
            messy = begin(session, messy_user, lesson)
            ids = (clean.member_id, messy.member_id)
        for beat, arrival in play(clean.id, script):
            deliver(clean_user, beat, T0 + timedelta(seconds=arrival))
        beats = play(messy.id, script)
        order = data.draw(st.permutations(range(len(beats))), label="order")
        extra = data.draw(
            st.lists(st.integers(0, len(beats) - 1), max_size=len(beats)), label="resent"
        )
        replay = data.draw(st.booleans(), label="replay everything after a restart")
        deliveries = list(order) + extra + (list(range(len(beats))) if replay else [])
        now = 0.0
        for index in deliveries:
            beat, arrival = beats[index]
            now = max(now, arrival) + data.draw(st.sampled_from([0.0, 0.5, 30.0]), label="delay")
            deliver(messy_user, beat, T0 + timedelta(seconds=now))
        expected = outcome(ids[0])
        event("awarded" if expected[0] else "not awarded")
        assert outcome(ids[1]) == expected
    finally:
        wipe()
