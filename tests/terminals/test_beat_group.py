"""Group commit of study beats: a group stores what beat-by-beat delivery would store, whatever
the grouping; each beat is answered only after its group's commit; a failed commit fails every
beat of the group and stores none; a refused beat does not spoil the others of its group."""

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select, text, update
from sqlalchemy.orm import Session

from core.db import get_engine, new_session
from core.errors import InvalidInput, NotAuthenticated
from core.people.accounts import start_session as log_in
from core.people.models import Role, User
from courseware.models import Lesson
from terminals.credits.errors import SessionEnded
from terminals.evidence.beat_group import store_group
from terminals.evidence.models import PlaybackBeat, PlaybackSession
from terminals.evidence.service import BeatInput, start_session
from terminals.evidence.writer import BeatJob, BeatWriter, write_beat, write_group
from tests.conftest import wipe
from tests.factories import make_course, make_lesson, make_tree, make_user
from tests.terminals.study import T0, make_member
from tests.terminals.test_evidence_properties import DURATION, deliver, outcome, play, steps


def world() -> tuple[User, User, Lesson, str]:
    """Two members of one branch and a lesson; a real login session of the second (its token)."""
    with new_session() as session:
        tree = make_tree(session)
        publisher = make_user(session, "pub", Role.publisher, tree.town)
        course = make_course(session, publisher, tree.town)
        lesson = make_lesson(session, course, duration=DURATION, credit_hours=2.0)
        _a, clean = make_member(session, tree.branch, "甲", 1, login="clean")
        _b, grouped = make_member(session, tree.branch, "乙", 2, login="grouped")
        assert clean is not None and grouped is not None
        token = log_in(session=session, user=grouped, address="127.0.0.1", user_agent="test")
        session.commit()
        return clean, grouped, lesson, token


def begin_as(user: User, lesson: Lesson, token: str) -> PlaybackSession:
    with new_session() as session:
        playback = start_session(
            session=session, user=user, lesson=lesson, login_token=token, now=T0
        )
        session.commit()
        return playback


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps, data=st.data())
def test_any_grouping_stores_what_beat_by_beat_delivery_stores(
    script: list[Any], data: st.DataObject
) -> None:
    try:
        clean_user, grouped_user, lesson, token = world()
        clean = begin_as(clean_user, lesson, "login-token-of-the-test-browser")
        grouped = begin_as(grouped_user, lesson, token)
        for beat, arrival in play(clean.id, script):
            deliver(clean_user, beat, T0 + timedelta(seconds=arrival))
        beats = play(grouped.id, script)
        order = data.draw(st.permutations(range(len(beats))), label="order")
        extra = data.draw(st.lists(st.integers(0, len(beats) - 1), max_size=4), label="resent")
        deliveries = [beats[i] for i in [*order, *extra]]
        while deliveries:
            size = data.draw(st.integers(1, 8), label="group size")
            group, deliveries = deliveries[:size], deliveries[size:]
            now = T0 + timedelta(seconds=max(arrival for _b, arrival in group) + 0.5)
            with new_session() as session:
                results = store_group(
                    session, [(token, beat) for beat, _a in group], write_beat, now
                )
                session.commit()
            assert not [r for r in results if isinstance(r, Exception)], results
        assert outcome(grouped.member_id) == outcome(clean.member_id)
    finally:
        wipe()


@pytest.fixture
def grouped(session: Session) -> Iterator[tuple[str, PlaybackSession]]:
    _clean, user, lesson, token = world()
    with new_session() as other:
        playback = start_session(
            session=other, user=user, lesson=lesson, login_token=token, now=T0 - timedelta(hours=1)
        )
        other.commit()
    yield token, playback


def beat(playback: PlaybackSession, seq: int, clock: float | None = None) -> BeatInput:
    start = 5.0 * (seq - 1)
    return BeatInput(
        session_id=playback.id,
        seq=seq,
        clock=clock if clock is not None else 5.0 * seq,
        position=start + 5.0,
        rate=1.0,
        visible=True,
        intervals=[(start, start + 5.0)],
    )


def stored(playback_id: str) -> list[int]:
    with new_session() as session:
        return list(
            session.scalars(
                select(PlaybackBeat.seq)
                .where(PlaybackBeat.session_id == playback_id)
                .order_by(PlaybackBeat.seq)
            )
        )


def test_a_beat_is_answered_only_after_its_group_is_committed(
    grouped: tuple[str, PlaybackSession],
) -> None:
    token, playback = grouped
    jobs = [BeatJob(login_token=token, beat=beat(playback, n)) for n in (1, 2, 3)]
    answered_before_commit: list[bool] = []

    def check(_session: Session) -> None:
        answered_before_commit.extend(job.answer.done() for job in jobs)

    event.listen(Session, "before_commit", check)
    try:
        write_group(jobs)
    finally:
        event.remove(Session, "before_commit", check)
    assert answered_before_commit and not any(answered_before_commit)
    assert [job.answer.result().stored for job in jobs] == [True, True, True]
    assert stored(playback.id) == [1, 2, 3]


def test_a_failed_commit_fails_every_beat_of_the_group_and_stores_none(
    grouped: tuple[str, PlaybackSession],
) -> None:
    token, playback = grouped
    jobs = [BeatJob(login_token=token, beat=beat(playback, n)) for n in (1, 2, 3)]

    def fail(_session: Session) -> None:
        raise OSError("disk full")

    event.listen(Session, "before_commit", fail)
    try:
        write_group(jobs)
    finally:
        event.remove(Session, "before_commit", fail)
    for job in jobs:
        with pytest.raises(OSError, match="disk full"):
            job.answer.result()
    assert stored(playback.id) == []
    with new_session() as session:
        row = session.get_one(PlaybackSession, playback.id)
        assert (row.last_seq, row.credited_seconds, row.last_beat_at) == (0, 0.0, None)
    retried = [BeatJob(login_token=token, beat=job.beat) for job in jobs]
    write_group(retried)  # the client sends them again: stored once each
    assert [job.answer.result().stored for job in retried] == [True, True, True]
    assert stored(playback.id) == [1, 2, 3]


def test_a_refused_beat_spoils_nothing_else_in_its_group(
    grouped: tuple[str, PlaybackSession],
) -> None:
    token, playback = grouped
    with new_session() as session:
        other_user = session.scalars(select(User).where(User.login == "clean")).one()
        lesson = session.get_one(Lesson, playback.lesson_id)
        ended = start_session(
            session=session, user=other_user, lesson=lesson, login_token="x", now=T0
        )
        session.commit()
    jobs = [
        BeatJob(login_token=token, beat=beat(playback, 1)),
        BeatJob(login_token=token, beat=beat(playback, 2, clock=1e9)),  # clock ahead
        BeatJob(login_token="no-such-login", beat=beat(playback, 3)),
        BeatJob(login_token=token, beat=beat(playback, 2)),
        BeatJob(login_token=token, beat=beat(playback, 2)),  # sent twice in one group
        BeatJob(login_token=token, beat=beat(ended, 1)),  # another member's session
        BeatJob(login_token=token, beat=beat(playback, 3)),
    ]
    write_group(jobs)
    results: list[object] = []
    for job in jobs:
        try:
            results.append(job.answer.result().duplicate)
        except Exception as exc:
            results.append(type(exc))
    assert results[0] is False and results[1] is InvalidInput
    assert results[2] is NotAuthenticated and results[3] is False and results[4] is True
    assert results[5] not in (True, False) and results[6] is False
    assert stored(playback.id) == [1, 2, 3]
    assert stored(ended.id) == []


def test_an_ended_session_is_refused_in_a_group(grouped: tuple[str, PlaybackSession]) -> None:
    token, playback = grouped
    with new_session() as session:
        user = session.scalars(select(User).where(User.login == "grouped")).one()
        lesson = session.get_one(Lesson, playback.lesson_id)
        start_session(session=session, user=user, lesson=lesson, login_token=token, now=T0)
        session.commit()  # the member opened the lesson again: the first session ended
    job = BeatJob(login_token=token, beat=beat(playback, 1))
    write_group([job])
    with pytest.raises(SessionEnded):
        job.answer.result()


def test_the_writer_thread_answers_concurrent_beats(grouped: tuple[str, PlaybackSession]) -> None:
    token, playback = grouped
    writer = BeatWriter(max_group=4)
    answers = [
        writer.submit(BeatJob(login_token=token, beat=beat(playback, n))) for n in range(1, 11)
    ]
    assert all(answer.result(timeout=30).stored for answer in answers)
    with new_session() as session:
        count = session.scalar(select(func.count()).where(PlaybackBeat.session_id == playback.id))
        row = session.get_one(PlaybackSession, playback.id)
    assert count == 10 and row.last_seq == 10 and row.credited_seconds > 0


def test_a_group_locks_its_sessions_before_reading_and_in_id_order() -> None:
    """Another transaction holds the lower session. On PostgreSQL the group waits for it without
    holding the higher one (even when the plan visits the higher row first: physical order
    reversed, sequential scan), so two groups cannot each hold what the other waits for; on
    SQLite the group waits for the file's write lock. Once released, the group goes on."""
    clean_user, grouped_user, lesson, token = world()
    low, high = sorted(
        (begin_as(clean_user, lesson, "login-token-of-the-test-browser"),
         begin_as(grouped_user, lesson, token)),
        key=lambda playback: playback.id,
    )  # fmt: skip
    postgres = get_engine().url.get_backend_name() == "postgresql"
    with new_session() as holder:
        if postgres:  # the lower row's newest version now lies after the higher one's
            holder.execute(update(PlaybackSession).where(PlaybackSession.id == low.id).values(
                last_beat_at=PlaybackSession.last_beat_at))  # fmt: skip
            holder.commit()
            holder.execute(select(PlaybackSession.id).where(
                PlaybackSession.id == low.id).with_for_update())  # fmt: skip
        else:
            holder.execute(text("UPDATE playback_sessions SET id = id WHERE 0"))  # the write lock
        finished = threading.Event()

        def group() -> None:
            with new_session() as session:
                if postgres:
                    session.execute(text("SET LOCAL enable_indexscan = off"))
                    session.execute(text("SET LOCAL enable_bitmapscan = off"))
                beats = [BeatInput(session_id=s.id, seq=1, clock=1.0, position=1.0, rate=1.0,
                                   visible=True, intervals=[(0.0, 1.0)])
                         for s in (high, low)]  # fmt: skip
                store_group(session, [(token, beat) for beat in beats], write_beat, T0)
                session.commit()
            finished.set()

        thread = threading.Thread(target=group)
        thread.start()
        try:
            assert not finished.wait(1.0)  # waiting for the held lock
            if postgres:
                with new_session() as other:  # the higher session is not held by the group
                    other.execute(select(PlaybackSession.id).where(
                        PlaybackSession.id == high.id).with_for_update(nowait=True))  # fmt: skip
                    other.rollback()
        finally:
            holder.rollback()
            thread.join(30)
    assert finished.is_set()
