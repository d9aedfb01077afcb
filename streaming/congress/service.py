"""Events: scheduling a congress or meeting, who may see it, and who may enter its room as what.

An event is scheduled by an administrator of its organisation for members of the organisation's
subtree (a county congress seats representatives of its branches) and for terminal sites of the
subtree as sub-venues. It has exactly one chair (主持人). Administrators of the organisation can
enter every room of it as moderators, with the chair's powers, whether invited or not.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.i18n import N_
from core.people.models import Member, Organisation, User
from core.people.permissions import can_manage_org, managed_orgs, related_paths
from core.people.service import target_org
from courseware.permissions import can_edit_course
from courseware.service import get_course
from streaming.congress.invitations import send_invitations
from streaming.congress.models import (
    VOTING_ROLES,
    AgendaItem,
    Event,
    EventKind,
    EventRole,
    EventStatus,
    Invitation,
    SubVenue,
)
from streaming.congress.rules import Level
from terminals.sites.models import Site, SiteAdministrator

AGENDA_LIMIT = 50
INVITATION_LIMIT = 2000


def create_event(
    *,
    session: Session,
    actor: User,
    org_id: int,
    title: str,
    kind: EventKind,
    level: Level,
    starts_at: datetime,
    planned_minutes: int,
    agenda: list[str],
    invitees: dict[int, EventRole],
    site_ids: list[int] | None = None,
    recording_course_id: int | None = None,
    credit_hours: float = 0.0,
    attendance_share: float = 0.8,
    description: str = "",
    address: str = "",
) -> Event:
    """Schedule an event of `org_id` with its agenda, invited members (by id, with their role)
    and sub-venue sites."""
    org = target_org(session=session, actor=actor, org_id=org_id)
    title = title.strip()
    if not title:
        raise InvalidInput(N_("An event needs a title."))
    if starts_at < utcnow() - timedelta(minutes=5):
        raise InvalidInput(N_("The start time has passed already."))
    if not 5 <= planned_minutes <= 1440:
        raise InvalidInput(N_("A meeting is planned for 5 minutes to 24 hours."))
    if not 0 <= credit_hours <= 100:
        raise InvalidInput(N_("Credit hours must be between 0 and 100."))
    if not 0 < attendance_share <= 1:
        raise InvalidInput(N_("The attendance needed for credit is a share between 0 and 1."))
    items = [item.strip() for item in agenda if item.strip()]
    if len(items) > AGENDA_LIMIT:
        raise InvalidInput(N_("An agenda has at most %(count)s items."), count=AGENDA_LIMIT)
    if list(invitees.values()).count(EventRole.chair) != 1:
        raise InvalidInput(N_("Invite exactly one member as the chair."))
    if len(invitees) > INVITATION_LIMIT:
        raise InvalidInput(N_("Invite at most %(count)s members."), count=INVITATION_LIMIT)
    members = _subtree_members(session=session, org=org, member_ids=list(invitees))
    sites = _subtree_sites(session=session, org=org, site_ids=site_ids or [])
    if recording_course_id is not None:
        course = get_course(session=session, user=actor, course_id=recording_course_id)
        if not can_edit_course(actor, course):
            raise PermissionDenied(N_("You may not add lessons to this course."))
    event = Event(
        org_id=org.id,
        kind=kind,
        level=level,
        title=title,
        description=description.strip(),
        starts_at=starts_at,
        planned_minutes=planned_minutes,
        credit_hours=credit_hours,
        attendance_share=attendance_share,
        recording_course_id=recording_course_id,
        created_by=actor.id,
    )
    event.agenda = [AgendaItem(position=n, title=item) for n, item in enumerate(items, 1)]
    event.invitations = [Invitation(member_id=m.id, role=invitees[m.id]) for m in members]
    event.venues = [SubVenue(site_id=site.id) for site in sites]
    session.add(event)
    session.flush()
    send_invitations(session=session, event=event)
    record(
        session=session,
        action="event_created",
        actor=actor,
        target_type="event",
        target_id=event.id,
        org_id=org.id,
        address=address,
        detail={
            "title": title,
            "starts_at": starts_at.isoformat(),
            "invited": len(members),
            "sites": len(sites),
        },
    )
    return event


def _subtree_members(*, session: Session, org: Organisation, member_ids: list[int]) -> list[Member]:
    members = list(
        session.scalars(
            select(Member)
            .join(Organisation, Organisation.id == Member.org_id)
            .where(
                Member.id.in_(member_ids),
                Member.active,
                Organisation.path.startswith(org.path),
            )
            .order_by(Member.id)
        )
    )
    missing = sorted(set(member_ids) - {member.id for member in members})
    if missing:
        raise InvalidInput(
            N_("Member %(id)s is not in this organisation's subtree."), id=missing[0]
        )
    return members


def _subtree_sites(*, session: Session, org: Organisation, site_ids: list[int]) -> list[Site]:
    if not site_ids:
        return []
    sites = list(
        session.scalars(
            select(Site)
            .join(Organisation, Organisation.id == Site.org_id)
            .where(Site.id.in_(site_ids), Organisation.path.startswith(org.path))
            .order_by(Site.id)
        )
    )
    missing = sorted(set(site_ids) - {site.id for site in sites})
    if missing:
        raise InvalidInput(N_("Site %(id)s is not in this organisation's subtree."), id=missing[0])
    return sites


def visible_events(actor: User) -> Select[Event]:
    """Events the actor administers or is invited to (or runs a sub-venue of), soonest first."""
    invited = exists().where(
        Invitation.event_id == Event.id,
        Invitation.member_id == Member.id,
        Member.user_id == actor.id,
    )
    venue = exists().where(
        SubVenue.event_id == Event.id,
        SubVenue.site_id == SiteAdministrator.site_id,
        SiteAdministrator.user_id == actor.id,
    )
    return (
        select(Event)
        .join(Organisation, Organisation.id == Event.org_id)
        .where(or_(managed_orgs(actor), invited, venue), Event.status != EventStatus.cancelled)
        .order_by(Event.starts_at, Event.id)
    )


@dataclass(frozen=True)
class Attendee:
    """Who the actor is in an event's room: their invitation's role, and whether they moderate
    (the chair, or an administrator of the event's organisation); or the sub-venue whose room
    they run (分会场: a site's administrator, not invited themselves), with the members of the
    site's organisation its roll is taken from."""

    user_id: int
    name: str
    member_id: int | None
    role: EventRole | None
    moderator: bool
    venue_site_id: int | None = None
    roster: tuple[tuple[int, str], ...] = ()

    @property
    def may_enter(self) -> bool:
        """Into the room: the invited, the moderators and the sub-venues."""
        return self.role is not None or self.moderator or self.venue_site_id is not None

    @property
    def votes(self) -> bool:
        return self.role in VOTING_ROLES

    @property
    def participant_key(self) -> str:
        """The room's name for them: one per person, whichever device they join from (one per
        sub-venue, whoever runs it)."""
        if self.venue_site_id is not None:
            return f"s{self.venue_site_id}"
        return f"m{self.member_id}" if self.member_id is not None else f"u{self.user_id}"


def get_watchable_event(*, session: Session, actor: User, event_id: int) -> Event:
    """An event whose broadcast the actor may watch: one they may see, or one of an
    organisation above theirs (members who cannot join watch their county's congress)."""
    event = session.get(Event, event_id)
    if event is None or event.status is EventStatus.cancelled:
        raise NotFound(N_("Event %(id)s not found."), id=event_id)
    below = any(path.startswith(event.org.path) for path in related_paths(actor))
    if not below and session.scalar(visible_events(actor).where(Event.id == event_id)) is None:
        raise NotFound(N_("Event %(id)s not found."), id=event_id)
    return event


def get_event(*, session: Session, actor: User, event_id: int) -> Event:
    """An event the actor may see; any other is "not found"."""
    event = session.scalar(visible_events(actor).where(Event.id == event_id))
    if event is None:
        raise NotFound(N_("Event %(id)s not found."), id=event_id)
    return event


def invited_as(
    *, session: Session, actor: User, event: Event
) -> tuple[Member | None, EventRole | None]:
    """The actor's member record, and their role in ``event`` if they are invited."""
    member = session.scalar(select(Member).where(Member.user_id == actor.id))
    invitation = next(
        (i for i in event.invitations if member is not None and i.member_id == member.id), None
    )
    return member, invitation.role if invitation is not None else None


def moderates(actor: User, event: Event, role: EventRole | None) -> bool:
    """The chair and the organisation's administrators moderate the meeting."""
    return role is EventRole.chair or can_manage_org(actor, event.org)


def attendee(*, session: Session, actor: User, event: Event) -> Attendee:
    """The actor as the event's room sees them (the event is one they may see)."""
    member, role = invited_as(session=session, actor=actor, event=event)
    moderator = moderates(actor, event, role)
    site = (
        None
        if role is not None or moderator
        else session.scalar(
            select(Site)
            .join(SiteAdministrator, SiteAdministrator.site_id == Site.id)
            .where(
                SiteAdministrator.user_id == actor.id,
                Site.id.in_([venue.site_id for venue in event.venues]),
            )
            .order_by(Site.id)
            .limit(1)
        )
    )
    if site is not None:
        roster = session.execute(
            select(Member.id, Member.name)
            .where(Member.org_id == site.org_id, Member.active)
            .order_by(Member.name, Member.id)
        ).all()
        return Attendee(
            user_id=actor.id,
            name=site.name,
            member_id=None,
            role=None,
            moderator=False,
            venue_site_id=site.id,
            roster=tuple((member_id, name) for member_id, name in roster),
        )
    return Attendee(
        user_id=actor.id,
        name=member.name if member is not None else actor.display_name or actor.login,
        member_id=member.id if member is not None else None,
        role=role,
        moderator=moderator,
    )
