"""The site page of the administration: a site's record, administrators, devices with
revoking, assignments with adding and removing, the enrolment code (shown once when issued),
its state and photos. Forms post back here; a refused change shows the page again."""

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from core.api import CurrentUser, RowId, SessionDep, client_address, verify_csrf
from core.errors import InvalidInput
from core.i18n import N_
from core.people.api import AdminUser
from core.people.forms import optional_id, redirect, submit
from core.people.models import User
from core.storage import get_store
from terminals.sessions.views import site_evidence
from terminals.sites import photos
from terminals.sites.assignments import (
    assign_content,
    assigned_lessons,
    assignments_reaching,
    can_change_assignment,
    describe_assignments,
    unassign,
)
from terminals.sites.holdings import downloads_of
from terminals.sites.models import Site
from terminals.sites.pages import (
    FormText,
    SiteForm,
    assignable_content,
    choice,
    content_choice,
    details_from_form,
    form_page,
    site_admin_page,
)
from terminals.sites.presence import presence_of
from terminals.sites.service import (
    Transition,
    allowed_transitions,
    change_status,
    get_managed_site,
    get_visible_site,
    issue_enrolment_code,
    last_contacts,
    list_devices,
    register_site_with_code,
    revoke_devices,
)
from terminals.sites.staff import create_site_admin, grant_site_admin, remove_site_admin

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


# A new site, shown with its first enrolment code


@router.post("/admin/sites")
def site_create(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    fields: SiteForm,
) -> Response:
    """Register the site and show its page with the first enrolment code, once."""
    values = fields.model_dump()

    def change() -> tuple[Site, str]:
        owner = optional_id(fields.org_id)
        if owner is None:
            raise InvalidInput(N_("Choose the organisation that owns the site."))
        return register_site_with_code(
            session=session,
            actor=actor,
            org_id=owner,
            code=fields.code,
            tier=fields.tier,
            details=details_from_form(values),
            address=client_address(request),
        )

    def created(outcome: tuple[Site, str]) -> Response:
        site, enrolment_code = outcome
        return _site_page(request, session, actor, site.id, new_code=enrolment_code, status=201)

    return submit(
        request,
        session,
        change,
        done=created,
        again=partial(form_page, request, session, actor, values=values),
    )


# The site page


def site_context(session: Session, actor: User, site: Site) -> dict[str, Any]:
    """What the site page and the site administrator's page show about a site."""
    seen = last_contacts(session=session, site_ids=[site.id])[site.id]
    reaching = assignments_reaching(session=session, site=site)
    return {
        "site": site,
        "last_seen": seen,
        "presence": presence_of(seen),
        "devices": list_devices(session=session, site=site),
        "assignments": describe_assignments(session=session, assignments=reaching),
        "removable": {a.id for a in reaching if can_change_assignment(session, actor, a)},
        "photo_names": photos.photo_names(site),
        "presence_of": presence_of,
        "evidence": site_evidence(session=session, site=site),
        "lessons": assigned_lessons(session=session, site=site),
        "downloads": downloads_of(session=session, site_id=site.id),
    }


def _site_page(
    request: Request,
    session: Session,
    actor: User,
    site_id: int,
    *,
    error: str | None = None,
    status: int = 200,
    new_code: str | None = None,
    new_admin: tuple[User, str] | None = None,
) -> Response:
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    response = site_admin_page(
        request,
        "site.html",
        actor,
        error=error,
        status=status,
        transitions=allowed_transitions(session, actor, site),
        content=assignable_content(session, actor),
        new_code=new_code,
        new_admin=new_admin,
        **site_context(session, actor, site),
    )
    if new_code or new_admin:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/admin/sites/{site_id}")
def site_page(request: Request, site_id: RowId, session: SessionDep, actor: AdminUser) -> Response:
    """One site: its record, administrators, devices, assignments, enrolment code, state."""
    return _site_page(request, session, actor, site_id)


def _on_site_page(
    request: Request,
    session: Session,
    actor: User,
    site_id: int,
    change: Callable[[], object],
    notice: str,
) -> Response:
    """A change posted from a site's page, which shows again after it."""
    again = partial(_site_page, request, session, actor, site_id)
    return submit(
        request, session, change, done=f"/admin/sites/{site_id}?done={notice}", again=again
    )


@router.post("/admin/sites/{site_id}/status")
def site_status(
    request: Request, site_id: RowId, session: SessionDep, actor: AdminUser, move: FormText = ""
) -> Response:
    """Approve, activate, suspend or resume the site."""
    chosen = choice(move, Transition)

    def change() -> None:
        if chosen is None:
            raise InvalidInput(N_("Choose a change of state."))
        change_status(
            session=session,
            actor=actor,
            site_id=site_id,
            move=chosen,
            address=client_address(request),
        )

    return _on_site_page(request, session, actor, site_id, change, chosen or "saved")


@router.post("/admin/sites/{site_id}/code")
def site_code(request: Request, site_id: RowId, session: SessionDep, actor: AdminUser) -> Response:
    """Issue a new enrolment code and show it once (the earlier one stops working)."""

    def change() -> str:
        return issue_enrolment_code(
            session=session, actor=actor, site_id=site_id, address=client_address(request)
        )[1]

    return submit(
        request,
        session,
        change,
        done=lambda code: _site_page(request, session, actor, site_id, new_code=code),
        again=partial(_site_page, request, session, actor, site_id),
    )


@router.post("/admin/sites/{site_id}/administrators")
def site_admin_add(
    request: Request,
    site_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    login: FormText = "",
    display_name: FormText = "",
    create: FormText = "",
) -> Response:
    """Let an account run the site, or create one with a generated password shown once."""
    address = client_address(request)

    def change() -> tuple[User, str] | None:
        if not login.strip():
            raise InvalidInput(N_("Give the login of the account."))
        if create == "1":
            return create_site_admin(
                session=session,
                actor=actor,
                site_id=site_id,
                login=login,
                display_name=display_name,
                address=address,
            )
        grant_site_admin(
            session=session, actor=actor, site_id=site_id, login=login, address=address
        )
        return None

    def done(outcome: tuple[User, str] | None) -> Response:
        if outcome is None:
            return redirect(f"/admin/sites/{site_id}?done=admin_added")
        return _site_page(request, session, actor, site_id, new_admin=outcome, status=201)

    again = partial(_site_page, request, session, actor, site_id)
    return submit(request, session, change, done=done, again=again)


@router.post("/admin/sites/{site_id}/administrators/{user_id}/remove")
def site_admin_remove(
    request: Request, site_id: RowId, user_id: RowId, session: SessionDep, actor: AdminUser
) -> Response:
    """Stop an account running the site."""

    def change() -> None:
        remove_site_admin(
            session=session,
            actor=actor,
            site_id=site_id,
            user_id=user_id,
            address=client_address(request),
        )

    return _on_site_page(request, session, actor, site_id, change, "admin_removed")


@router.post("/admin/sites/{site_id}/devices/revoke")
def site_devices_revoke(
    request: Request,
    site_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    device_id: FormText = "",
) -> Response:
    """Revoke one device (device_id) or all of the site's devices."""

    def change() -> None:
        revoke_devices(
            session=session,
            actor=actor,
            site_id=site_id,
            device_id=optional_id(device_id),
            address=client_address(request),
        )

    return _on_site_page(request, session, actor, site_id, change, "devices_revoked")


@router.post("/admin/sites/{site_id}/assignments")
def site_assign(
    request: Request, site_id: RowId, session: SessionDep, actor: AdminUser, content: FormText = ""
) -> Response:
    """Assign the chosen course ("c:ID") or lesson ("l:ID") to the site."""

    def change() -> None:
        lesson_id, course_id = content_choice(content)
        assign_content(
            session=session,
            actor=actor,
            site_id=site_id,
            lesson_id=lesson_id,
            course_id=course_id,
            address=client_address(request),
        )

    return _on_site_page(request, session, actor, site_id, change, "assigned")


@router.post("/admin/sites/{site_id}/assignments/{assignment_id}/remove")
def site_unassign(
    request: Request, site_id: RowId, assignment_id: RowId, session: SessionDep, actor: AdminUser
) -> Response:
    """End one of the assignments reaching the site."""

    def change() -> None:
        unassign(
            session=session,
            actor=actor,
            assignment_id=assignment_id,
            address=client_address(request),
        )

    return _on_site_page(request, session, actor, site_id, change, "unassigned")


@router.post("/admin/sites/{site_id}/photos")
def site_photo_add(
    request: Request,
    site_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Add a photo (JPEG or PNG, at most 5 MB)."""

    def change() -> None:
        data = file.file.read(photos.MAX_PHOTO_BYTES + 1) if file is not None else b""
        photos.add_photo(
            session=session,
            store=get_store(),
            actor=actor,
            site_id=site_id,
            data=data,
            address=client_address(request),
        )

    return _on_site_page(request, session, actor, site_id, change, "photo_added")


@router.post("/admin/sites/{site_id}/photos/{name}/remove")
def site_photo_remove(
    request: Request, site_id: RowId, name: str, session: SessionDep, actor: AdminUser
) -> Response:
    """Remove a photo."""

    def change() -> None:
        photos.remove_photo(
            session=session,
            store=get_store(),
            actor=actor,
            site_id=site_id,
            name=name,
            address=client_address(request),
        )

    return _on_site_page(request, session, actor, site_id, change, "photo_removed")


@router.get("/sites/{site_id}/photos/{name}")
def site_photo(site_id: RowId, name: str, session: SessionDep, actor: CurrentUser) -> Response:
    """A photo of a site, for those who manage or run it."""
    site = get_visible_site(session=session, actor=actor, site_id=site_id)
    data, content_type = photos.read_photo(store=get_store(), site=site, name=name)
    return Response(
        data, media_type=content_type, headers={"Cache-Control": "private, max-age=3600"}
    )
