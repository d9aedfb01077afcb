"""Test data for the sync protocol: sites with enrolment codes, and published lessons whose HLS
trees are written straight into a store (no transcode: the bytes are random, the layout real)."""

import hashlib
import os
from datetime import timedelta

from sqlalchemy.orm import Session

from core.db import utcnow
from core.people.models import Organisation, Role
from core.storage import ObjectStore
from courseware.models import Course, Lesson, LessonStatus
from terminals.sites.models import AssignmentTarget, Site, SiteAssignment, SiteStatus
from tests.factories import Tree, make_course, make_user

RUNGS = [("480p", 480, 854), ("360p", 360, 640)]


def make_site(
    session: Session, org: Organisation, code: str, *, tier: str = "basic", enrol: str = ""
) -> Site:
    """A committed approved site; `enrol` sets its one-time code (valid for a day)."""
    site = Site(code=code, name=f"站点{code[-3:]}", org_id=org.id, tier=tier)
    site.status = SiteStatus.approved
    if enrol:
        site.enrolment_code_hash = hashlib.sha256(enrol.encode()).hexdigest()
        site.enrolment_code_expires_at = utcnow() + timedelta(days=1)
    session.add(site)
    session.commit()
    return site


def new_code(session: Session, site: Site, code: str) -> None:
    """Give the site a fresh one-time code."""
    site.enrolment_code_hash = hashlib.sha256(code.encode()).hexdigest()
    site.enrolment_code_expires_at = utcnow() + timedelta(days=1)
    session.commit()


def make_course_of(session: Session, tree: Tree) -> Course:
    """A course of the district with a publisher."""
    publisher = make_user(session, "pub", Role.publisher, tree.district)
    return make_course(session, publisher, tree.district)


def publish(
    session: Session,
    store: ObjectStore,
    course: Course,
    title: str,
    *,
    segments: int = 3,
    segment_bytes: int = 64 * 1024,
) -> Lesson:
    """A ready lesson with two renditions, a poster, and their files in `store`."""
    lesson = Lesson(
        course=course,
        title=title,
        status=LessonStatus.processing,
        source_key="lessons/x/source/a.mp4",
        duration=4.0 * segments,
        credit_hours=0.5,
    )
    session.add(lesson)
    session.flush()
    write_media(store, lesson.id, segments=segments, segment_bytes=segment_bytes)
    prefix = f"lessons/{lesson.id}"
    lesson.renditions = [
        {"name": name, "height": height, "width": width, "bandwidth": height * 2000}
        for name, height, width in RUNGS
    ]
    lesson.master_key = f"{prefix}/hls/master.m3u8"
    lesson.poster_key = f"{prefix}/poster.jpg"
    lesson.status, lesson.ready_at = LessonStatus.ready, utcnow()
    session.commit()
    return lesson


def write_media(store: ObjectStore, lesson_id: int, *, segments: int, segment_bytes: int) -> None:
    """Write a lesson's HLS tree (random segment bytes) and poster."""
    prefix = f"lessons/{lesson_id}"
    for name, _height, _width in RUNGS:
        lines = ["#EXTM3U", "#EXT-X-VERSION:7", '#EXT-X-MAP:URI="init.mp4"']
        store.put_bytes(f"{prefix}/hls/{name}/init.mp4", os.urandom(2048))
        for number in range(1, segments + 1):
            segment = f"seg_{number:05d}.m4s"
            store.put_bytes(f"{prefix}/hls/{name}/{segment}", os.urandom(segment_bytes))
            lines += ["#EXTINF:4.0,", segment]
        lines.append("#EXT-X-ENDLIST")
        store.put_bytes(f"{prefix}/hls/{name}/index.m3u8", "\n".join(lines).encode())
    store.put_bytes(f"{prefix}/hls/master.m3u8", b"#EXTM3U\n")
    store.put_bytes(f"{prefix}/poster.jpg", os.urandom(4096))


def assign(session: Session, site: Site, lesson: Lesson) -> SiteAssignment:
    """Assign one lesson to one site."""
    assignment = SiteAssignment(target=AssignmentTarget.site, site_id=site.id, lesson_id=lesson.id)
    session.add(assignment)
    session.commit()
    return assignment
