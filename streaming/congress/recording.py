"""The recording: when an event ends, its broadcast joins the course chosen for it as a lesson
(live-to-VOD). The live segments are the recording; they are copied under the lesson with a
master playlist naming their one rendition, so the lesson plays like any other, with no second
transcode. Its description points to the minutes, and the minutes are attached to it as a
document once the record is complete."""

import re
from datetime import timedelta

import av
from sqlalchemy.orm import Session

from core.db import session_scope
from core.jobs import create_job
from core.storage import ObjectStore
from courseware.models import Lesson
from courseware.service import add_recorded_lesson
from streaming.congress.models import Event, LogEntry
from streaming.media.broadcast import PLAYLIST, SEGMENT

RENDITION = "live"
MINUTES_JOB = "events.minutes"
"""Attaches the minutes to the recording's lesson, as a document of their own."""
MINUTES_FILE = "会议记录.html"


def playlist_duration(playlist: str) -> float:
    return sum(float(seconds) for seconds in re.findall(r"^#EXTINF:([\d.]+)", playlist, re.M))


def keep_recording(*, store: ObjectStore, event_id: int, live_prefix: str) -> int | None:
    """Make the lesson of `event_id`'s recording if the event names a course and anything was
    broadcast; returns the lesson's id. Runs in a thread (it copies every segment)."""
    with session_scope() as session:
        event = session.get_one(Event, event_id)
        if event.recording_course_id is None or not store.exists(f"{live_prefix}/{PLAYLIST}"):
            return None
        playlist = store.get_bytes(f"{live_prefix}/{PLAYLIST}").decode()
        segments = SEGMENT.findall(playlist)
        if not segments:
            return None
        duration = playlist_duration(playlist)
        lesson = _lesson(session, event, store, f"{live_prefix}/{segments[0]}", duration)
        target = f"lessons/{lesson.id}/hls"
        size = 0
        for name in segments:
            data = store.get_bytes(f"{live_prefix}/{name}")
            size += len(data)
            store.put_bytes(f"{target}/{RENDITION}/{name}", data)
        store.put_bytes(f"{target}/{RENDITION}/{PLAYLIST}", playlist.encode())
        rendition = lesson.renditions[0]
        rendition["bandwidth"] = int(size * 8 / duration) if duration else 0
        lesson.renditions = [dict(rendition)]
        store.put_bytes(lesson.master_key or "", _master(rendition).encode())
        session.add(LogEntry(event_id=event.id, kind="recorded", detail={"lesson": lesson.id}))
        # The minutes are attached once the record is complete (web.documents renders them).
        create_job(
            session=session,
            kind=MINUTES_JOB,
            payload={"event_id": event.id, "lesson_id": lesson.id},
        )
        return lesson.id


def _lesson(
    session: Session,
    event: Event,
    store: ObjectStore,
    first_segment: str,
    duration: float,
) -> Lesson:
    width, height = _picture_size(store, first_segment)
    assert event.recording_course_id is not None
    return add_recorded_lesson(
        session=session,
        course_id=event.recording_course_id,
        title=f"{event.title}（录像）",
        description=f"会议记录：/events/{event.id}/minutes",
        created_by=event.created_by,
        duration=duration,
        rendition={"name": RENDITION, "width": width, "height": height, "bandwidth": 0},
        # Its replay earns the event's credit, under the event's key: once with attending it.
        credit_hours=event.credit_hours if event.credit_hours > 0 else None,
        credit_key=f"event:{event.id}" if event.credit_hours > 0 else None,
    )


def _picture_size(store: ObjectStore, key: str) -> tuple[int, int]:
    """The picture size of the program's first segment (0×0 for a broadcast of sound only)."""
    path = store.local_path(key)
    source = (
        str(path) if path is not None else store.presigned_url(key, expires=timedelta(minutes=10))
    )
    with av.open(source) as container:
        if not container.streams.video:
            return 0, 0
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height


def _master(rendition: dict[str, int | str]) -> str:
    resolution = (
        f",RESOLUTION={rendition['width']}x{rendition['height']}" if rendition["height"] else ""
    )
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n"
        f"#EXT-X-STREAM-INF:BANDWIDTH={rendition['bandwidth']}{resolution}\n"
        f"{RENDITION}/{PLAYLIST}\n"
    )
