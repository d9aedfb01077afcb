"""After the event: the result report (选举结果报告单) names the officers and reconciles each
venue's ballots; the recording becomes a lesson with the minutes and the report attached; and
watching it earns the event's credit, once with having attended live."""

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs import execute_job
from core.jobs.models import Job
from core.people.models import Member, Role, User
from core.storage import get_store
from courseware.models import Attachment, Lesson
from streaming.congress.hosting import live_prefix
from streaming.congress.models import EventKind, EventRole
from streaming.congress.recording import MINUTES_JOB, keep_recording
from streaming.congress.rules import Level
from streaming.congress.service import create_event
from streaming.elections.procedure import Step
from streaming.elections.record import results_of
from streaming.elections.service import append, entries_of
from terminals.credits.ledger import LIVE, LIVE_EVENT, award_credit
from terminals.credits.models import CreditEntry
from terminals.evidence.service import award_if_covered
from tests.factories import Tree, make_course, make_user
from tests.media import make_clip
from tests.streaming.elections import election_at_count
from tests.terminals.study import make_member

MARKS = [("o", "o", "x"), ("o", "x", "o"), ("o", "o", "o"), ("o", "x", "x")]  # the 3rd: invalid


def test_the_report_and_the_recording_with_its_documents_and_credit(
    client: TestClient, session: Session, tree: Tree, tmp_path: Path
) -> None:
    adm = make_user(session, "adm", Role.org_admin, tree.town)
    zhu = make_user(session, "zhu", Role.member, tree.branch)
    zhu.display_name = "朱主持"
    make_user(session, "jian", Role.member, tree.branch).display_name = "简监票"
    course = make_course(session, adm, tree.town, "会议录像")
    voter, _ = make_member(session, tree.branch, "马党员", 1, login="ma")
    chair, _ = make_member(session, tree.branch, "朱主持", 2)
    event = create_event(
        session=session,
        actor=adm,
        org_id=tree.branch.id,
        title="支部党员大会",
        kind=EventKind.meeting,
        level=Level.grassroots,
        starts_at=datetime(2030, 1, 1, 1, tzinfo=UTC),
        planned_minutes=60,
        agenda=[],
        invitees={chair.id: EventRole.chair, voter.id: EventRole.participant},
        recording_course_id=course.id,
        credit_hours=1.5,
    )
    election = election_at_count(
        session, tree.branch, zhu, venues={"主会场": 3, "分会场": 1}, event_id=event.id
    )

    def fact(kind: str, author: str, **data: Any) -> None:
        append(session, election, kind, author, data)

    for number, marks in enumerate(MARKS, start=1):
        for teller in ("ji", "suan"):
            fact(
                "ballot",
                f"teller:{teller}",
                round=1,
                number=number,
                marks=dict(zip("甲乙丙", marks, strict=True)),
            )
    fact("step", "chair:zhu", step=Step.announce)
    fact("announced", "chair:zhu", round=1, result=results_of(entries_of(session, election))["1"])
    session.commit()

    page = client.get(f"/elections/{election.id}/report").text  # anyone: it is public
    assert "选举结果报告单：支部委员选举" in page
    assert "朱主持（zhu）" in page and "简监票（jian）" in page and "ji、suan" in page
    assert "没有会场收回的选票多于发出的选票" in page  # each venue reconciled
    assert "第 3 张选票：所选人数多于应选名额" in page
    assert re.search(r'class="elected">\s*<span class="name">甲</span>', page)
    assert "3 票 · <strong>当选</strong>" in page
    download = client.get(f"/elections/{election.id}/report?download=1")
    assert download.headers["content-disposition"].startswith("attachment")
    assert "<script" not in download.text and "选举结果报告单" in download.text

    # The meeting ends: its broadcast becomes a lesson, the minutes and the report attached.
    store = get_store()
    segment = make_clip(tmp_path / "seg0.ts", seconds=2, width=160, height=120, audio=False)
    store.put_file(f"{live_prefix(event.id)}/seg0.ts", segment)
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg0.ts\n#EXT-X-ENDLIST\n"
    store.put_bytes(f"{live_prefix(event.id)}/index.m3u8", playlist.encode())
    lesson_id = keep_recording(store=store, event_id=event.id, live_prefix=live_prefix(event.id))
    assert lesson_id is not None
    job = session.scalars(select(Job).where(Job.kind == MINUTES_JOB)).one()
    assert execute_job(job.id).status.value == "done"
    session.expire_all()
    attached = session.scalars(
        select(Attachment).where(Attachment.lesson_id == lesson_id).order_by(Attachment.name)
    ).all()
    assert [a.name for a in attached] == ["会议记录.html", "选举结果报告单.html"]
    report = store.get_bytes(attached[1].key).decode()
    assert "支部委员选举" in report and "简监票（jian）" in report

    # Watching the recording earns the event's hours under the event's key: attending live as
    # well earns nothing more.
    lesson = session.get_one(Lesson, lesson_id)
    assert (lesson.credit_hours, lesson.credit_key) == (1.5, f"event:{event.id}")
    now = utcnow()
    hours = award_if_covered(
        session=session,
        member_id=voter.id,
        lesson_id=lesson_id,
        playback_id="replay",
        year=now.year,
        coverage=1.0,
        covered_seconds=2.0,
        now=now,
    )
    assert hours == 1.5
    award_credit(
        session=session,
        member_id=voter.id,
        source=LIVE,
        source_ref=f"event:{event.id}",
        award_key=f"event:{event.id}",
        hours=1.5,
        category=LIVE_EVENT,
        occurred_at=now,
    )
    rows = session.scalars(select(CreditEntry).where(CreditEntry.member_id == voter.id)).all()
    assert [(r.award_key, r.category, r.hours) for r in rows] == [
        (f"event:{event.id}", LIVE_EVENT, 1.5)
    ]
    assert session.get(Member, voter.id) is not None and session.get(User, zhu.id) is not None
