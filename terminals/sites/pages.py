"""HTML pages of site administration: the site list (sorted, filtered), the new/edit form,
and the site page with its administrators, devices, assignments, enrolment code, state and
photos. Forms post back here; a refused change shows the same page again with the reason."""

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.api import RowId, SessionDep, client_address, verify_csrf
from core.errors import InvalidInput
from core.i18n import N_
from core.people.api import AdminUser, reader_locale
from core.people.forms import active_choices, admin_page, optional_id, pager, submit
from core.people.models import Organisation, User
from core.people.orgs import org_tree
from core.people.service import get_managed_org
from core.settings import get_settings
from courseware.models import Course
from courseware.permissions import listed_lessons, visible_courses
from terminals.sites import fields
from terminals.sites.assignments import (
    assign_content,
    assignments_of_org,
    describe_assignments,
    unassign,
)
from terminals.sites.models import BuildMode, Site, SiteStatus
from terminals.sites.presence import Presence, presence_of
from terminals.sites.service import (
    SiteDetails,
    SiteFilter,
    SiteSort,
    get_managed_site,
    list_sites,
    update_site,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
EQUIPMENT_KEYS = ("item", "model", "count")
CONTACT_KEYS = ("name", "phone", "role")
# The assignment form lists at most this many courses (newest first); more are found by id.
MAX_COURSE_CHOICES = 300


def labels(locale: str) -> dict[str, Any]:
    """Names of tiers, states and build modes for the templates, in the reader's language."""
    tiers = get_settings().site_tiers
    return {
        "tiers": [(key, fields.tier_label(key, locale)) for key in tiers],
        "tier_names": {key: fields.tier_label(key, locale) for key in tiers},
        "statuses": list(SiteStatus),
        "build_modes": list(BuildMode),
    }


def site_admin_page(request: Request, template: str, actor: User, **context: Any) -> Response:
    return admin_page(
        request,
        f"terminals/sites/{template}",
        actor=actor,
        section="sites",
        **labels(reader_locale(request)),
        **context,
    )


def choice(value: str, kind: Any) -> Any:
    """`value` as the enum `kind`, or None when empty or not one of its values."""
    try:
        return kind(value) if value else None
    except ValueError:
        return None


# The list


@router.get("/admin/sites")
def sites_page(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    q: str = "",
    status: str = "",
    tier: str = "",
    org_id: str = "",
    presence: str = "",
    sort: str = "name",
    desc: str = "",
    page: str = "1",
) -> Response:
    """The sites of the admin's subtrees as a table: sorted by a column, filtered by state,
    tier, organisation, presence, and text in the name or code."""
    tiers = get_settings().site_tiers
    where = SiteFilter(
        query=q[:200],
        status=choice(status, SiteStatus),
        tier=tier if tier in tiers else None,
        org_id=optional_id(org_id),
        presence=choice(presence, Presence),
    )
    sort_by = choice(sort, SiteSort) or SiteSort.name
    if where.org_id is not None:  # out-of-reach organisations are not found
        get_managed_org(session=session, actor=actor, org_id=where.org_id)
    found, seen = list_sites(
        session=session,
        actor=actor,
        where=where,
        sort=sort_by,
        descending=desc == "1",
        page=optional_id(page) or 1,
    )
    kept = {
        key: value
        for key, value in {
            "q": q[:200],
            "status": status,
            "tier": tier,
            "org_id": org_id,
            "presence": presence,
        }.items()
        if value
    }
    return site_admin_page(
        request,
        "list.html",
        actor,
        sites=found.items,
        seen=seen,
        presence_of=presence_of,
        paging=pager(request, found),
        where=where,
        filters=kept,
        sort=sort_by.value,
        desc=desc == "1",
        orgs=org_tree(session=session, actor=actor),
        presences=list(Presence),
    )


# New and edit


def _form_values(site: Site | None, request: Request) -> dict[str, str]:
    if site is None:
        return {
            "org_id": request.query_params.get("org_id", ""),
            "build_mode": BuildMode.broadband.value,
            "tier": next(iter(get_settings().site_tiers)),
        }
    return {
        "org_id": str(site.org_id),
        "code": site.code,
        "name": site.name,
        "tier": site.tier,
        "host_unit": site.host_unit,
        "address": site.address,
        "latitude": "" if site.latitude is None else str(site.latitude),
        "longitude": "" if site.longitude is None else str(site.longitude),
        "build_mode": site.build_mode.value,
        "equipment": fields.format_rows(site.equipment, EQUIPMENT_KEYS),
        "contacts": fields.format_rows(site.contacts, CONTACT_KEYS),
        "download_windows": " ".join(site.download_windows),
        "notes": site.notes,
    }


def form_page(
    request: Request,
    session: Session,
    actor: User,
    *,
    site: Site | None = None,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return site_admin_page(
        request,
        "form.html",
        actor,
        error=error,
        status=status,
        site=site,
        values=values or _form_values(site, request),
        orgs=active_choices(org_tree(session=session, actor=actor)),
        limits_site={
            "code": fields.CODE_MAX,
            "name": fields.NAME_MAX,
            "host_unit": fields.HOST_UNIT_MAX,
            "address": fields.ADDRESS_MAX,
            "notes": fields.NOTES_MAX,
        },
    )


def _number(value: str, message: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidInput(message) from None


def details_from_form(values: dict[str, str]) -> SiteDetails:
    """The site details a new/edit form posted, checked like an API body."""
    mode = choice(values.get("build_mode", ""), BuildMode)
    if mode is None:
        raise InvalidInput(N_("Choose how the site receives programmes."))
    return SiteDetails(
        name=values.get("name", ""),
        host_unit=values.get("host_unit", ""),
        address=values.get("address", ""),
        latitude=_number(values.get("latitude", ""), N_("Latitude must be a number.")),
        longitude=_number(values.get("longitude", ""), N_("Longitude must be a number.")),
        build_mode=mode,
        equipment=tuple(fields.parse_rows(values.get("equipment", ""), EQUIPMENT_KEYS)),
        contacts=tuple(fields.parse_rows(values.get("contacts", ""), CONTACT_KEYS)),
        download_windows=tuple(values.get("download_windows", "").replace(",", " ").split()),
        notes=values.get("notes", ""),
    )


FormText = Annotated[str, Form()]


class SiteFields(BaseModel):
    """The site form as posted, every field as typed: details_from_form and the service check
    them, so a refused form comes back with what was entered."""

    org_id: str = ""
    code: str = ""
    name: str = ""
    tier: str = ""
    host_unit: str = ""
    address: str = ""
    latitude: str = ""
    longitude: str = ""
    build_mode: str = ""
    equipment: str = ""
    contacts: str = ""
    download_windows: str = ""
    notes: str = ""


SiteForm = Annotated[SiteFields, Form()]


@router.get("/admin/sites/new")
def site_new(request: Request, session: SessionDep, actor: AdminUser) -> Response:
    """The form for a new site."""
    return form_page(request, session, actor)


@router.get("/admin/sites/{site_id}/edit")
def site_edit(request: Request, site_id: RowId, session: SessionDep, actor: AdminUser) -> Response:
    """The form to change a site's record."""
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    return form_page(request, session, actor, site=site)


@router.post("/admin/sites/{site_id}/edit")
def site_update(
    request: Request,
    site_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    fields: SiteForm,
) -> Response:
    """Save the site's record."""
    values = fields.model_dump()
    site = get_managed_site(session=session, actor=actor, site_id=site_id)

    def change() -> None:
        update_site(
            session=session,
            actor=actor,
            site_id=site_id,
            code=fields.code,
            tier=fields.tier,
            org_id=optional_id(fields.org_id) or site.org_id,
            details=details_from_form(values),
            address=client_address(request),
        )

    again = partial(form_page, request, session, actor, site=site, values=values)
    return submit(request, session, change, done=f"/admin/sites/{site_id}?done=saved", again=again)


def assignable_content(session: Session, actor: User) -> list[tuple[Course, list[Any]]]:
    """Courses the actor can see (newest first) with their lessons the actor can see."""
    courses = session.scalars(
        select(Course)
        .join(Organisation, Organisation.id == Course.org_id)
        .where(visible_courses(actor))
        .order_by(Course.created_at.desc(), Course.id.desc())
        .limit(MAX_COURSE_CHOICES)
    )
    return [(course, listed_lessons(actor, course)) for course in courses]


def content_choice(value: str) -> tuple[int | None, int | None]:
    """The (lesson, course) a content select sent as "l:ID" or "c:ID"."""
    kind, _, number = value.partition(":")
    ref = optional_id(number)
    if kind not in ("l", "c") or ref is None:
        raise InvalidInput(N_("Choose a course or a lesson to assign."))
    return (ref, None) if kind == "l" else (None, ref)


# Assignments by organisation and tier


def _org_assignments_page(
    request: Request,
    session: Session,
    actor: User,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    found = assignments_of_org(session=session, actor=actor)
    return site_admin_page(
        request,
        "assignments.html",
        actor,
        error=error,
        status=status,
        assignments=describe_assignments(session=session, assignments=found),
        orgs=active_choices(org_tree(session=session, actor=actor)),
        content=assignable_content(session, actor),
    )


@router.get("/admin/sites/assignments")
def org_assignments_page(request: Request, session: SessionDep, actor: AdminUser) -> Response:
    """Assignments to whole org subtrees and to tiers, with the form to add one."""
    return _org_assignments_page(request, session, actor)


@router.post("/admin/sites/assignments")
def org_assign(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    org_id: FormText = "",
    tier: FormText = "",
    content: FormText = "",
) -> Response:
    """Assign content to every site of an org's subtree, or to its sites of one tier."""

    def change() -> None:
        owner = optional_id(org_id)
        if owner is None:
            raise InvalidInput(N_("Choose the organisation whose sites get the content."))
        lesson_id, course_id = content_choice(content)
        assign_content(
            session=session,
            actor=actor,
            org_id=owner,
            tier=tier or None,
            lesson_id=lesson_id,
            course_id=course_id,
            address=client_address(request),
        )

    again = partial(_org_assignments_page, request, session, actor)
    return submit(
        request, session, change, done="/admin/sites/assignments?done=assigned", again=again
    )


@router.post("/admin/sites/assignments/{assignment_id}/remove")
def org_unassign(
    request: Request, assignment_id: RowId, session: SessionDep, actor: AdminUser
) -> Response:
    """End an org or tier assignment."""

    def change() -> None:
        unassign(
            session=session,
            actor=actor,
            assignment_id=assignment_id,
            address=client_address(request),
        )

    again = partial(_org_assignments_page, request, session, actor)
    return submit(
        request, session, change, done="/admin/sites/assignments?done=unassigned", again=again
    )
