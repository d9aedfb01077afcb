"""What people read about a site's evidence: heartbeat history, group sessions with their roll
calls, playback log and proof-of-play frames. The caller has already checked that the reader
may see the site (terminals.sites.service.get_visible_site)."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.localtime import day_start, local_date
from core.people.models import Member
from courseware.models import Lesson
from terminals.sessions.models import GroupSession, SiteFrame
from terminals.sites.models import Site
from terminals.sync.models import SiteHeartbeat

HEARTBEATS_SHOWN = 96  # a day of beats every 15 minutes
SESSIONS_SHOWN = 20


@dataclass
class SessionView:
    """A session with the names its roll call, log and frames need."""

    group: GroupSession
    names: dict[int, str] = field(default_factory=dict)  # member id -> name
    titles: dict[int, str] = field(default_factory=dict)  # lesson id -> title
    frames: list[SiteFrame] = field(default_factory=list)

    @property
    def present(self) -> int:
        """实到: members who checked in."""
        return len(self.group.attendance)


def heartbeat_history(
    *, session: Session, site: Site, limit: int = HEARTBEATS_SHOWN
) -> list[SiteHeartbeat]:
    """The site's latest heartbeats, newest first."""
    return list(
        session.scalars(
            select(SiteHeartbeat)
            .where(SiteHeartbeat.site_id == site.id)
            .order_by(SiteHeartbeat.received_at.desc(), SiteHeartbeat.id.desc())
            .limit(limit)
        )
    )


def site_sessions(
    *,
    session: Session,
    site: Site,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = SESSIONS_SHOWN,
) -> list[SessionView]:
    """The site's group sessions (started in [since, until) when given), newest first."""
    moment = func.coalesce(GroupSession.started_at, GroupSession.updated_at)
    query = select(GroupSession).where(GroupSession.site_id == site.id)
    if since is not None:
        query = query.where(moment >= since)
    if until is not None:
        query = query.where(moment < until)
    groups = list(
        session.scalars(query.order_by(moment.desc(), GroupSession.id.desc()).limit(limit))
    )
    member_ids = {a.member_id for g in groups for a in g.attendance}
    lesson_ids = {p.lesson_id for g in groups for p in g.played} | {
        i for g in groups for i in g.lesson_ids
    }
    names = dict(
        session.execute(select(Member.id, Member.name).where(Member.id.in_(member_ids))).all()
    )
    titles = dict(
        session.execute(select(Lesson.id, Lesson.title).where(Lesson.id.in_(lesson_ids))).all()
    )
    frames: dict[str, list[SiteFrame]] = {}
    for frame in session.scalars(
        select(SiteFrame)
        .where(
            SiteFrame.site_id == site.id,
            SiteFrame.session_uuid.in_([g.uuid for g in groups]),
        )
        .order_by(SiteFrame.captured_at, SiteFrame.id)
    ):
        frames.setdefault(frame.session_uuid, []).append(frame)
    return [SessionView(g, names, titles, frames.get(g.uuid, [])) for g in groups]


def get_frame(*, session: Session, site: Site, frame_id: int) -> SiteFrame | None:
    """A frame of the site whose picture is stored."""
    frame = session.get(SiteFrame, frame_id)
    if frame is None or frame.site_id != site.id or frame.key is None:
        return None
    return frame


@dataclass
class SiteEvidence:
    """What a site's page shows of its evidence."""

    heartbeats: list[SiteHeartbeat]
    sessions: list[SessionView]
    titles: dict[int, str]  # lesson id -> title, for "now playing"

    @property
    def disk_points(self) -> list[list[object]]:
        """[ISO time, free GB] of the heartbeats that report disk space, oldest first."""
        return [
            [b.received_at.isoformat(), round(b.disk_free_bytes / 1e9, 2)]
            for b in reversed(self.heartbeats)
            if b.disk_free_bytes is not None
        ]

    @staticmethod
    def parse(text: str) -> datetime:
        """A stored ISO time as a datetime."""
        return datetime.fromisoformat(text)


def site_evidence(*, session: Session, site: Site) -> SiteEvidence:
    """Heartbeat history and latest group sessions of a site."""
    beats = heartbeat_history(session=session, site=site)
    playing = {b.now_playing for b in beats if b.now_playing}
    titles = dict(
        session.execute(select(Lesson.id, Lesson.title).where(Lesson.id.in_(playing))).all()
    )
    return SiteEvidence(beats, site_sessions(session=session, site=site), titles)


def month_sessions(*, session: Session, site: Site, now: datetime) -> list[SessionView]:
    """The site's group sessions started this local calendar month (up to 100)."""
    today = local_date(now)
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return [
        view
        for view in site_sessions(
            session=session,
            site=site,
            since=day_start(first),
            until=day_start(following),
            limit=100,
        )
        if view.group.started_at is not None
    ]
