"""The transcode job: no transaction held while ffmpeg runs, fenced publishing, failures classed,
progress the database refuses, credit hours set by hand, and renditions as the master states."""

import re
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from core.db import get_engine, make_engine, session_scope, utcnow
from core.jobs import create_job, execute_job, recover_stalled_jobs, retry_delay
from core.jobs.models import Job, JobStatus
from core.jobs.registry import JOB_TYPES
from core.people.models import Role, User
from core.settings import get_settings
from core.storage import get_store
from courseware.models import Course, Lesson, LessonStatus, Visibility
from courseware.service import (
    TRANSCODE_JOB,
    create_course,
    credit_hours_for,
    update_lesson,
)
from courseware.transcode.errors import REASONS
from tests.factories import ingest, log_in, make_tree, make_user
from tests.faults import failing_statements, job_update
from tests.media import make_clip
from web.app import create_app

# A transaction or a pooled connection held longer than this counts as held across the transcode
# (the transcodes below take several times as long; short writes take milliseconds).
HELD_SECONDS = 1.0


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of 854x480: a transcode to 480p and 360p that runs for seconds."""
    return make_clip(
        tmp_path_factory.mktemp("clips") / "long.mp4", seconds=20, width=854, height=480
    )


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 s of 854x480 with sound."""
    return make_clip(
        tmp_path_factory.mktemp("clips") / "short.mp4", seconds=5, width=854, height=480
    )


@pytest.fixture
def publisher(session: Session) -> User:
    tree = make_tree(session)
    user = make_user(session, "pub", Role.platform_admin, tree.district)
    make_user(session, "member", Role.member, tree.branch)
    create_course(
        session=session, user=user, title="党课", org_id=tree.town.id, visibility=Visibility.org
    )
    session.commit()
    return user


def _ingest(session: Session, user: User, clip: Path) -> tuple[int, int]:
    """A lesson with its source stored and its transcode job committed; (lesson id, job id)."""
    course = session.scalars(select(Course)).one()
    lesson = ingest(user, course.id, clip, "第一课")
    assert lesson.job_id is not None
    return lesson.id, lesson.job_id


def _lesson(lesson_id: int) -> Lesson:
    with session_scope() as session:
        return session.get_one(Lesson, lesson_id)


def _job(job_id: int) -> Job:
    with session_scope() as session:
        return session.get_one(Job, job_id)


class _PoolWatch:
    """How long each pooled connection of the app's engine stays checked out."""

    def __init__(self) -> None:
        self.held: list[float] = []
        self._since: dict[int, float] = {}

    def checkout(self, _dbapi: Any, record: Any, _proxy: Any) -> None:
        self._since[id(record)] = time.monotonic()

    def checkin(self, _dbapi: Any, record: Any) -> None:
        since = self._since.pop(id(record), None)
        if since is not None:
            self.held.append(time.monotonic() - since)


class _IdleInTransaction(threading.Thread):
    """Polls pg_stat_activity for sessions of this database idle in a transaction for longer
    than HELD_SECONDS, from a connection of its own."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.engine = make_engine(get_settings().database_url)
        self.stop = threading.Event()
        self.found: list[tuple[Any, ...]] = []
        self.polls = 0

    def run(self) -> None:
        query = text(
            "SELECT pid, state, query FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state LIKE 'idle in transaction%'"
            " AND clock_timestamp() - state_change > make_interval(secs => :held)"
        )
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            while not self.stop.wait(0.1):
                self.found += [
                    tuple(row) for row in connection.execute(query, {"held": HELD_SECONDS})
                ]
                self.polls += 1
        self.engine.dispose()


def test_no_transaction_stays_open_while_ffmpeg_runs(
    session: Session, publisher: User, long_clip: Path
) -> None:
    lesson_id, job_id = _ingest(session, publisher, long_clip)
    session.close()
    watch = _PoolWatch()
    engine = get_engine()
    event.listen(engine, "checkout", watch.checkout)
    event.listen(engine, "checkin", watch.checkin)
    poller = _IdleInTransaction() if engine.dialect.name == "postgresql" else None
    if poller is not None:
        poller.start()
    started = time.monotonic()
    try:
        assert execute_job(job_id).status is JobStatus.done
    finally:
        took = time.monotonic() - started
        event.remove(engine, "checkout", watch.checkout)
        event.remove(engine, "checkin", watch.checkin)
        if poller is not None:
            poller.stop.set()
            poller.join()
    assert took > 2 * HELD_SECONDS, "the transcode was too short to tell"
    assert len(watch.held) > 5 and max(watch.held) < HELD_SECONDS, watch.held
    if poller is not None:
        assert poller.polls > 10 and poller.found == []
    assert _lesson(lesson_id).status is LessonStatus.ready


def test_a_transcode_taken_over_does_not_publish(
    session: Session, publisher: User, short_clip: Path
) -> None:
    lesson_id, job_id = _ingest(session, publisher, short_clip)
    taken: list[int] = []

    def take_over(fraction: float) -> None:
        """Once every object is uploaded, recovery decides this attempt's worker is lost."""
        if fraction < 1.0 or taken:
            return
        while not taken:
            with session_scope() as other:
                stale = utcnow() - timedelta(minutes=5)
                other.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=stale))
            taken.extend(recover_stalled_jobs())

    assert execute_job(job_id, on_progress=take_over).status is None
    assert taken == [job_id]
    lesson, job = _lesson(lesson_id), _job(job_id)
    assert (lesson.status, lesson.master_key, lesson.renditions) == (
        LessonStatus.processing,
        None,
        [],
    )
    assert (job.status, job.attempts) == (JobStatus.queued, 1)
    assert execute_job(job_id).status is JobStatus.done  # the attempt that took it over
    assert (_lesson(lesson_id).status, _job(job_id).attempts) == (LessonStatus.ready, 2)


def test_progress_the_database_refuses_does_not_stop_the_transcode(
    session: Session, publisher: User, long_clip: Path
) -> None:
    lesson_id, job_id = _ingest(session, publisher, long_clip)
    # Reports are stored at most once a second, and the last (100%) always: a fast machine
    # makes only two, so only the first is refused.
    with failing_statements(job_update("progress"), times=1) as writes:
        started = time.monotonic()
        assert execute_job(job_id).status is JobStatus.done
    assert len(writes.failed) == 1 and writes.passed  # later reports were stored
    assert time.monotonic() - started < get_settings().job_stale_seconds * 20
    job = _job(job_id)
    assert (job.status, job.attempts, job.error) == (JobStatus.done, 1, None)
    assert _lesson(lesson_id).status is LessonStatus.ready


def test_credit_hours_set_by_hand_survive_a_transcode_and_a_retranscode(
    session: Session, publisher: User, short_clip: Path
) -> None:
    lesson_id, job_id = _ingest(session, publisher, short_clip)
    set_by_hand: list[float] = []

    def edit_while_transcoding(fraction: float) -> None:
        if fraction < 0.2 or set_by_hand:
            return
        with session_scope() as other:
            update_lesson(
                session=other,
                user=other.get_one(User, publisher.id),
                lesson=other.get_one(Lesson, lesson_id),
                credit_hours=2.5,
            )
        set_by_hand.append(fraction)

    assert execute_job(job_id, on_progress=edit_while_transcoding).status is JobStatus.done
    assert set_by_hand
    lesson = _lesson(lesson_id)
    assert (lesson.status, lesson.credit_hours, lesson.credit_hours_set_by_hand) == (
        LessonStatus.ready,
        2.5,
        True,
    )
    with session_scope() as other:
        again = create_job(session=other, kind=TRANSCODE_JOB, payload={"lesson_id": lesson_id})
    assert execute_job(again.id).status is JobStatus.done
    lesson = _lesson(lesson_id)
    assert (lesson.status, lesson.credit_hours) == (LessonStatus.ready, 2.5)
    assert lesson.duration is not None and credit_hours_for(lesson.duration) != 2.5


def test_api_bandwidth_is_what_the_master_playlist_states(
    session: Session, publisher: User, short_clip: Path
) -> None:
    lesson_id, job_id = _ingest(session, publisher, short_clip)
    assert execute_job(job_id).status is JobStatus.done
    master = get_store().get_bytes(f"lessons/{lesson_id}/hls/master.m3u8").decode()
    stated = {
        int(uri.split("p/")[0]): int(bandwidth)
        for bandwidth, uri in re.findall(r"[:,]BANDWIDTH=(\d+)[^\n]*\n(\S+)", master)
    }
    with TestClient(create_app()) as client:
        log_in(client, "member")
        shown = client.get(f"/api/lessons/{lesson_id}").json()
    assert {r["height"]: r["bandwidth"] for r in shown["renditions"]} == stated
    assert sorted(stated) == [360, 480]


def test_a_transcode_out_of_time_is_retried_and_a_bad_source_is_not(
    session: Session,
    publisher: User,
    short_clip: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(JOB_TYPES, TRANSCODE_JOB, replace(JOB_TYPES[TRANSCODE_JOB], timeout=0.3))
    lesson_id, job_id = _ingest(session, publisher, short_clip)
    outcome = execute_job(job_id)
    assert outcome.status is JobStatus.queued and outcome.retry_in == retry_delay(1)
    assert _job(job_id).error == REASONS["timeout"]
    assert (_lesson(lesson_id).status, _lesson(lesson_id).error) == (LessonStatus.processing, None)

    monkeypatch.undo()
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    bad_lesson, bad_job = _ingest(session, publisher, bad)
    assert execute_job(bad_job).status is JobStatus.failed
    assert (_job(bad_job).attempts, _lesson(bad_lesson).error) == (1, REASONS["not_media"])
