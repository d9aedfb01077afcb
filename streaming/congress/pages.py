"""Pages of events: the events one may see (and, for administrators, a form to schedule one),
an event's page, and its room."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.api import CurrentUser, RowId, SessionDep, client_address, verify_csrf
from core.errors import InvalidInput, PermissionDenied
from core.i18n import N_
from core.localtime import CHINA_TIME
from core.people.forms import active_choices, optional_id, redirect, render, submit
from core.people.models import Member, User
from core.people.orgs import org_tree
from core.people.permissions import can_manage_org, is_admin, managed_members
from core.settings import get_settings
from courseware.catalog import list_courses
from courseware.models import Course
from courseware.permissions import can_edit_course
from streaming.congress.feed import issue_whip_token, whip_url
from streaming.congress.minutes import make_minutes
from streaming.congress.models import CLOSED_EVENT, EventKind, EventRole
from streaming.congress.rules import Level
from streaming.congress.service import (
    attendee,
    create_event,
    get_event,
    get_watchable_event,
    visible_events,
)
from streaming.media.broadcast import LIVE_SYNC_SEGMENTS

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

MEMBER_CHOICES = 500
"""Members listed on the scheduling form (a larger subtree invites by the command line)."""


def _events_page(
    request: Request, session: Session, actor: User, *, error: str | None = None, status: int = 200
) -> Response:
    admin = is_admin(actor)
    members = (
        list(
            session.scalars(
                select(Member)
                .where(managed_members(actor), Member.active)
                .order_by(Member.org_id, Member.name)
                .limit(MEMBER_CHOICES)
            )
        )
        if admin
        else []
    )
    return render(
        request,
        "streaming/events.html",
        {
            "user": actor,
            "error": error,
            "done": request.query_params.get("done"),
            "events": list(session.scalars(visible_events(actor))),
            "orgs": active_choices(org_tree(session=session, actor=actor)) if admin else [],
            "members": members,
            "courses": [
                c for c in list_courses(session=session, user=actor) if can_edit_course(actor, c)
            ]
            if admin
            else [],
            "kinds": list(EventKind),
            "levels": list(Level),
        },
        status=status,
    )


def _recording_courses(session: Session, actor: User) -> list[Course]:
    """The courses a recording may join: those the scheduler may add lessons to."""
    return [c for c in list_courses(session=session, user=actor) if can_edit_course(actor, c)]


@router.get("/events")
def events_page(request: Request, session: SessionDep, actor: CurrentUser) -> Response:
    """The congresses and meetings one administers or is invited to."""
    return _events_page(request, session, actor)


@router.post("/events")
def events_create(
    request: Request,
    session: SessionDep,
    actor: CurrentUser,
    org_id: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "meeting",
    level: Annotated[str, Form()] = "grassroots",
    starts_at: Annotated[str, Form()] = "",
    planned_minutes: Annotated[str, Form()] = "120",
    agenda: Annotated[str, Form()] = "",
    chair_id: Annotated[str, Form()] = "",
    member_ids: Annotated[list[str] | None, Form()] = None,
    credit_hours: Annotated[str, Form()] = "0",
    recording_course_id: Annotated[str, Form()] = "",
) -> Response:
    """Schedule an event from the form: the chair and the checked members invited."""

    def change() -> int:
        try:
            start = datetime.fromisoformat(starts_at).replace(tzinfo=CHINA_TIME)
            minutes, hours = int(planned_minutes), float(credit_hours or 0)
            chosen_kind, chosen_level = EventKind(kind), Level(level)
        except ValueError:
            raise InvalidInput(N_("Check the start, length, kind and credit hours.")) from None
        chair = optional_id(chair_id)
        if chair is None:
            raise InvalidInput(N_("Invite exactly one member as the chair."))
        invitees = dict.fromkeys(
            (i for i in map(optional_id, member_ids or []) if i), EventRole.participant
        )
        invitees[chair] = EventRole.chair
        return create_event(
            session=session,
            actor=actor,
            org_id=optional_id(org_id) or 0,
            title=title,
            kind=chosen_kind,
            level=chosen_level,
            starts_at=start,
            planned_minutes=minutes,
            agenda=agenda.splitlines(),
            invitees=invitees,
            recording_course_id=optional_id(recording_course_id),
            credit_hours=hours,
            address=client_address(request),
        ).id

    def again(error: str, status: int) -> Response:
        return _events_page(request, session, actor, error=error, status=status)

    return submit(
        request,
        session,
        change,
        done=lambda event_id: redirect(f"/events/{event_id}?done=created"),
        again=again,
    )


@router.get("/events/{event_id}")
def event_page(
    request: Request, event_id: RowId, session: SessionDep, actor: CurrentUser
) -> Response:
    """An event: when, the agenda, who is invited, and the way into its room."""
    return _event_page(request, session, actor, event_id)


@router.post("/events/{event_id}/whip-token")
def whip_token_issue(
    request: Request, event_id: RowId, session: SessionDep, actor: CurrentUser
) -> Response:
    """Issue the program feed's WHIP token: shown once, on the page this answers with."""
    token = issue_whip_token(
        session=session, actor=actor, event_id=event_id, address=client_address(request)
    )
    response = _event_page(request, session, actor, event_id, whip_token=token)
    response.headers["Cache-Control"] = "no-store"
    return response


def _event_page(
    request: Request, session: Session, actor: User, event_id: int, whip_token: str = ""
) -> Response:
    event = get_event(session=session, actor=actor, event_id=event_id)
    who = attendee(session=session, actor=actor, event=event)
    return render(
        request,
        "streaming/event.html",
        {
            "user": actor,
            "event": event,
            "who": who,
            "can_enter": who.may_enter and event.status not in CLOSED_EVENT,
            "done": request.query_params.get("done"),
            "manages": can_manage_org(actor, event.org) and event.status not in CLOSED_EVENT,
            "whip_url": whip_url(get_settings().base_url, event.id),
            "whip_token": whip_token,
        },
    )


@router.get("/events/{event_id}/room")
def room_page(
    request: Request, event_id: RowId, session: SessionDep, actor: CurrentUser
) -> Response:
    """The room: video grid, own preview and controls (the signalling opens from the page)."""
    event = get_event(session=session, actor=actor, event_id=event_id)
    who = attendee(session=session, actor=actor, event=event)
    if not who.may_enter:
        raise PermissionDenied(N_("You are not invited to this event."))
    return render(
        request,
        "streaming/room.html",
        {"user": actor, "event": event, "who": who, "over": event.status in CLOSED_EVENT},
    )


@router.get("/events/{event_id}/minutes")
def minutes_page(
    request: Request,
    event_id: RowId,
    session: SessionDep,
    actor: CurrentUser,
    download: bool = False,
) -> Response:
    """The minutes, printable (and saved as a PDF from the browser's print dialog); with
    ?download=1 as a document of their own to keep (the one kept with the recording)."""
    event = get_event(session=session, actor=actor, event_id=event_id)
    page = "streaming/minutes_document.html" if download else "streaming/minutes.html"
    response = render(request, page, {"user": actor, "minutes": make_minutes(session, event)})
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="minutes-{event.id}.html"'
    return response


@router.get("/events/{event_id}/watch")
def watch_page(
    request: Request, event_id: RowId, session: SessionDep, actor: CurrentUser
) -> Response:
    """The broadcast: the program live (or its recording once over), with the viewer count."""
    event = get_watchable_event(session=session, actor=actor, event_id=event_id)
    return render(
        request,
        "streaming/watch.html",
        {
            "user": actor,
            "event": event,
            "live_sync": LIVE_SYNC_SEGMENTS,
            "asking": event.status not in CLOSED_EVENT,
        },
    )
