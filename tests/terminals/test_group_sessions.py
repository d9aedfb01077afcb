"""Group sessions projected from uploaded records: any interleaving of partial, repeated and
reordered batches (with a restart of the app between any two) ends as one clean upload does —
the same sessions, roll calls, played lessons, frames and credits — and credits are never
awarded twice, nor before the session's evidence is whole."""

import itertools
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import new_session, utcnow
from core.people.models import Member, Organisation
from core.storage import get_store
from courseware.models import Lesson
from terminals.credits.models import CreditEntry
from terminals.sessions.intake import receive_batch
from terminals.sessions.models import GroupSession, SiteFrame
from terminals.sessions.projection import frame_key
from terminals.sites.models import Site, SiteDevice
from terminals.sync.enrolment import token_hash
from terminals.sync.schemas import BatchIn, RecordIn
from tests.factories import Tree, make_course, make_user
from tests.terminals.group_sessions import FRAME_JPEG, Script, session_script
from tests.terminals.study import make_member
from tests.terminals.sync_fixtures import make_site

_serial = itertools.count(7000)


@dataclass
class Stage:
    """A site with a device, three members (two of its branch, one of another district) and
    two lessons of 12 s."""

    site: Site
    device_id: int
    members: list[Member]
    lessons: list[Lesson]


def make_stage(session: Session, tree: Tree, lessons: list[Lesson] | None = None) -> Stage:
    """A fresh site, device and members (lessons shared when given)."""
    site = make_site(session, tree.branch, f"6001{next(_serial):08d}")
    device = SiteDevice(site_id=site.id, token_hash=token_hash(str(uuid.uuid4())))
    session.add(device)
    session.commit()
    orgs: list[Organisation] = [tree.branch, tree.branch, tree.other]
    members = [
        make_member(session, org, f"党员{i}", next(_serial))[0] for i, org in enumerate(orgs)
    ]
    if lessons is None:
        publisher = make_user(session, f"pub{next(_serial)}", _publisher_role(), tree.district)
        course = make_course(session, publisher, tree.district)
        lessons = []
        for title in ("全课", "半课"):
            lesson = Lesson(
                course=course,
                title=title,
                duration=12.0,
                credit_hours=1.5,
                source_key="lessons/x/source/a.mp4",
            )
            session.add(lesson)
            lessons.append(lesson)
        session.commit()
    return Stage(site, device.id, members, lessons)


def _publisher_role() -> Any:
    from core.people.models import Role

    return Role.publisher


def script_for(stage: Stage, start: datetime) -> Script:
    """Member 0 (branch) and member 2 (other district) stay; member 1 leaves before play."""
    return session_script(
        start=start,
        lesson_full=stage.lessons[0].id,
        lesson_part=stage.lessons[1].id,
        stayed=[stage.members[0].id, stage.members[2].id],
        left_early=[stage.members[1].id],
    )


def upload(stage: Stage, agent: uuid.UUID, records: list[RecordIn], skew: float = 0.0) -> None:
    """One batch, in its own transaction, as the API stores it (agent clock `skew` s ahead)."""
    with new_session() as work:
        receive_batch(
            session=work,
            device=work.get_one(SiteDevice, stage.device_id),
            batch=BatchIn(
                agent_id=agent,
                sent_at=datetime.now(UTC) + timedelta(seconds=skew),
                records=records,
            ),
        )
        work.commit()


def snapshot(session: Session, stage: Stage) -> dict[str, Any]:
    """What the projection made of a site, with member and lesson ids as their place in the
    stage (so two stages compare), and no row ids or update times."""
    session.expire_all()
    who = {m.id: n for n, m in enumerate(stage.members)}
    which = {lesson.id: n for n, lesson in enumerate(stage.lessons)}
    groups = session.scalars(select(GroupSession).where(GroupSession.site_id == stage.site.id))
    shown = []
    for group in groups:
        shown.append(
            {
                "title": group.title,
                "expected": group.expected,
                "lessons": [which[i] for i in group.lesson_ids],
                "complete": group.complete,
                "length": (group.ended_at - group.started_at).total_seconds()
                if group.started_at and group.ended_at
                else None,
                "played": group.played_seconds,
                "distrusted": group.distrusted,
                "roll": sorted(
                    (
                        who[a.member_id],
                        a.method,
                        (a.checked_in_at - group.started_at).total_seconds()
                        if group.started_at
                        else None,
                        a.checked_out_at is not None,
                        a.present_seconds,
                        a.qualified,
                    )
                    for a in group.attendance
                ),
                "plays": sorted(
                    (which[p.lesson_id], tuple(map(tuple, p.media)), len(p.spans), p.coverage)
                    for p in group.played
                ),
            }
        )
    frames = session.scalars(select(SiteFrame).where(SiteFrame.site_id == stage.site.id)).all()
    credits = session.scalars(select(CreditEntry).where(CreditEntry.member_id.in_(list(who)))).all()
    return {
        "sessions": shown,
        "frames": sorted((f.mark, f.size, f.key is not None) for f in frames),
        "objects": sorted(
            get_store().get_bytes(frame_key(stage.site.id, f.record_uuid)) == FRAME_JPEG
            for f in frames
        ),
        "credits": sorted(
            (
                who[c.member_id],
                c.award_key.split(":")[0],
                which[c.lesson_id or 0],
                c.hours,
                c.source,
                c.category,
            )
            for c in credits
        ),
    }


EXPECTED_CREDITS = [(0, "lesson", 0, 1.5, "site", "group")]


def test_a_clean_upload_credits_the_member_who_stayed(session: Session, tree: Tree) -> None:
    stage = make_stage(session, tree)
    script = script_for(stage, utcnow() - timedelta(hours=2))
    upload(stage, script.agent, script.records)
    shot = snapshot(session, stage)
    (group,) = shot["sessions"]
    assert group["complete"] and group["length"] == 54.0 and group["played"] == 18.0
    assert [row[0] for row in group["roll"] if row[5]] == [0, 2]  # member 1 left before play
    assert group["plays"][0][3] == 1.0 and group["plays"][1][3] == 0.5
    # Member 2 belongs to another district: on the roll call, but no credit from this site.
    assert shot["credits"] == EXPECTED_CREDITS
    assert shot["frames"] == [
        ("end", len(FRAME_JPEG), True),
        ("middle", len(FRAME_JPEG), True),
        ("start", len(FRAME_JPEG), True),
    ]
    assert all(shot["objects"])


# A delivery plan: batches of record indices (repeats and any order), and whether the app is
# restarted (caches dropped) before each.
plans = st.lists(
    st.tuples(st.lists(st.integers(min_value=0, max_value=18), max_size=8), st.booleans()),
    min_size=1,
    max_size=6,
)


# Everything but member 1's check-out (record 5 of the script) first: the session has ended and
# member 1 looks present throughout, but no credit may be given before the check-out arrives.
WITHOUT_CHECK_OUT = [([i for i in range(13) if i != 4], False)]


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(plan=plans, shuffle=st.randoms(use_true_random=False))
@example(plan=WITHOUT_CHECK_OUT, shuffle=random.Random(1))
def test_any_delivery_ends_as_one_clean_upload(
    plan: list[tuple[list[int], bool]], shuffle: Any, session: Session, tree: Tree
) -> None:
    clean = make_stage(session, tree)
    start = utcnow() - timedelta(hours=2)
    reference = script_for(clean, start)
    upload(clean, reference.agent, reference.records)
    messy = make_stage(session, tree, lessons=clean.lessons)
    script = script_for(messy, start)
    count = len(script.records)
    seen_credits: list[Any] = []
    for indices, restart in [*plan, (list(range(count)), False)]:
        if restart:
            get_store.cache_clear()
        batch = [script.records[i % count] for i in indices]
        shuffle.shuffle(batch)
        if batch:
            upload(messy, script.agent, batch)
        now = snapshot(session, messy)["credits"]
        # Never more than the clean result, and never taken back.
        assert set(now) <= set(EXPECTED_CREDITS) and len(now) == len(set(now))
        assert set(seen_credits) <= set(now)
        seen_credits = now
    assert snapshot(session, messy) == snapshot(session, clean)
    # Replaying everything once more changes nothing.
    upload(messy, script.agent, list(reversed(script.records)))
    assert snapshot(session, messy) == snapshot(session, clean)


def test_a_skewed_clock_is_corrected_and_future_times_earn_nothing(
    session: Session, tree: Tree
) -> None:
    stage = make_stage(session, tree)
    # The agent's clock runs 3 hours ahead: its times look "future", its batch says so.
    script = script_for(stage, utcnow() + timedelta(hours=3) - timedelta(minutes=30))
    upload(stage, script.agent, script.records, skew=3 * 3600)
    group = session.scalars(select(GroupSession).where(GroupSession.site_id == stage.site.id)).one()
    assert group.started_at is not None
    assert abs((group.started_at - (utcnow() - timedelta(minutes=30))).total_seconds()) < 60
    assert snapshot(session, stage)["credits"] == EXPECTED_CREDITS
    # A clock that claims a time later than the batch was sent earns nothing.
    other = make_stage(session, tree, lessons=stage.lessons)
    late = script_for(other, utcnow() + timedelta(hours=5))
    upload(other, late.agent, late.records)
    shot = snapshot(session, other)
    assert shot["credits"] == [] and shot["sessions"][0]["distrusted"] == len(late.records) - 3


def test_intervals_faster_than_real_time_or_outside_the_session_are_cut(
    session: Session, tree: Tree
) -> None:
    stage = make_stage(session, tree)
    start = utcnow() - timedelta(hours=1)
    script = Script(uuid.uuid4(), [])
    sid = str(uuid.uuid4())
    lesson = stage.lessons[0].id

    def at(s: float) -> str:
        return (start + timedelta(seconds=s)).isoformat()

    script.add(
        "session",
        start,
        {"session_id": sid, "event": "started", "at": at(0), "lesson_ids": [lesson]},
    )
    script.add(
        "attendance",
        start,
        {"session_id": sid, "member_id": stage.members[0].id, "method": "qr", "at": at(1)},
    )
    # 12 s of media claimed in 1 s (rate 12): only credit_max_rate x wall time is accepted.
    script.add(
        "interval",
        start,
        {
            "session_id": sid,
            "lesson_id": lesson,
            "media_start": 0,
            "media_end": 12,
            "started_at": at(2),
            "rate": 12,
        },
    )
    # The same lesson "played" before the session started and after it ended: cut away.
    script.add(
        "interval",
        start,
        {
            "session_id": sid,
            "lesson_id": lesson,
            "media_start": 0,
            "media_end": 12,
            "started_at": at(-100),
        },
    )
    script.add(
        "interval",
        start,
        {
            "session_id": sid,
            "lesson_id": lesson,
            "media_start": 0,
            "media_end": 12,
            "started_at": at(10),
        },
    )
    script.add("session", start, {"session_id": sid, "event": "ended", "at": at(12)})
    upload(stage, script.agent, script.records)
    group = session.scalars(select(GroupSession).where(GroupSession.site_id == stage.site.id)).one()
    (played,) = group.played
    # 2 s accepted from the fast stretch (1 s x rate 2), 2 s of the one cut at the end.
    assert played.media == [[0.0, 2.0]] and played.coverage < 0.9
    assert group.played_seconds == 3.0
    assert snapshot(session, stage)["credits"] == []
