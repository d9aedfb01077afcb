"""Builders of the report tests: a site with duties, its administrator, and real heartbeat and
record rows as the sync stores them."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy.orm import Session

from core.localtime import CHINA_TIME
from core.people.models import Role, User
from terminals.sites.models import Site, SiteStatus
from terminals.sites.staff import grant_site_admin
from terminals.sync.models import SiteHeartbeat, SiteRecord
from terminals.sync.records import touch_days, typed_columns
from terminals.sync.schemas import RECORD_BODIES
from tests.factories import Tree, make_callers, make_tree, make_user

_SEQ = count(1)


@dataclass
class World:
    tree: Tree
    users: dict[str, User]
    site: Site


def make_world(session: Session, *, code: str = "500101001001") -> World:
    """The test tree, its callers (member, pub, adm of the town, far, root), "runner" (a member
    who runs the site), "county" (org admin of the district) and an approved site in the first
    branch."""
    tree = make_tree(session)
    users = make_callers(session, tree)
    users["runner"] = make_user(session, "runner", Role.member, tree.branch)
    users["county"] = make_user(session, "county", Role.org_admin, tree.district)
    site = Site(
        code=code, name="石桥村站点", org_id=tree.branch.id, tier="basic", status=SiteStatus.active
    )
    session.add(site)
    session.flush()
    grant_site_admin(session=session, actor=users["root"], site_id=site.id, login="runner")
    session.commit()
    return World(tree, users, site)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA_TIME)


def heartbeat(session: Session, site: Site, at: datetime) -> None:
    session.add(SiteHeartbeat(site_id=site.id, received_at=at, sent_at=at, powered_on_at=at))


def record(session: Session, site: Site, kind: str, at: datetime, body: dict[str, Any]) -> None:
    session.add(
        SiteRecord(
            uuid=str(uuid.uuid4()),
            site_id=site.id,
            agent_id="00000000-0000-4000-8000-000000000001",
            seq=next(_SEQ),
            kind=kind,
            occurred_at=at,
            body=body,
            digest="0" * 64,
            **typed_columns(RECORD_BODIES[kind].model_validate(body)),
        )
    )
    touch_days(session=session, site_id=site.id, moments=[at])  # as storing a batch does


def played(session: Session, site: Site, start: datetime, minutes: float) -> None:
    """An interval record of `minutes` played from `start`."""
    record(
        session,
        site,
        "interval",
        start + timedelta(minutes=minutes),
        {
            "session_id": str(uuid.uuid4()),
            "lesson_id": 1,
            "media_start": 0.0,
            "media_end": minutes * 60,
            "started_at": start.isoformat(),
            "rate": 1.0,
        },
    )


def group_session(session: Session, site: Site, at: datetime) -> None:
    """A group session started (and ended an hour later)."""
    session_id = str(uuid.uuid4())
    for event, moment in (("started", at), ("ended", at + timedelta(hours=1))):
        record(
            session,
            site,
            "session",
            moment,
            {"session_id": session_id, "event": event, "at": moment.isoformat()},
        )


def full_month(session: Session, site: Site, year: int, month: int) -> None:
    """Everything a month asks of a site under the default rules: 90 minutes on the 5th, 15th
    and 25th, 180 minutes on other days, two group sessions, four days open."""
    for day in (5, 15, 25):
        played(session, site, local(date(year, month, day), 9), 90)
    played(session, site, local(date(year, month, 10), 9), 180)
    for day in (5, 15):
        group_session(session, site, local(date(year, month, day), 14))
    for day in (5, 10, 15, 25):
        heartbeat(session, site, local(date(year, month, day), 8))
