"""HTML pages of member administration: the member list and search, the member form, and
roster import with its row-by-row report. The export is the API's download."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from core.api import RowId, SessionDep, verify_csrf
from core.i18n import N_, error_text, gettext
from core.people.api import AdminUser, client_address, reader_locale
from core.people.forms import active_choices, attempt, optional_id, pager, redirect, render
from core.people.members import (
    get_managed_member,
    list_members,
    lookup_members,
    register_member,
    set_member_active,
    update_member,
)
from core.people.models import User
from core.people.orgs import org_tree
from core.people.roster import MAX_ROSTER_BYTES, ImportReport, import_roster
from core.people.schemas import MemberCreate, MemberEdit
from core.settings import get_settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


def _members_page(
    request: Request,
    session: Session,
    actor: User,
    *,
    q: str = "",
    org_id: str = "",
    status_filter: str = "",
    page: str = "1",
    found_by_number: list[Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    org_filter = optional_id(org_id)
    active = {"active": True, "inactive": False}.get(status_filter)
    if found_by_number is None:
        found = list_members(
            session=session,
            actor=actor,
            query=q[:200],
            org_id=org_filter,
            active=active,
            page=optional_id(page) or 1,
        )
        members, paging = found.items, pager(request, found)
    else:
        members, paging = found_by_number, None
    return render(
        request,
        "people/members.html",
        {
            "user": actor,
            "section": "members",
            "members": members,
            "paging": paging,
            "q": q[:200],
            "org_filter": org_filter,
            "status_filter": status_filter,
            "by_number": found_by_number is not None,
            "orgs": org_tree(session=session, actor=actor),
            "error": error,
            "done": request.query_params.get("done"),
        },
        status=status,
    )


@router.get("/admin/members")
def members_page(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    q: str = "",
    org_id: str = "",
    status: str = "",
    page: str = "1",
) -> Response:
    """Members of the admin's subtrees, searched by name, filtered by organisation and state."""
    return _members_page(
        request, session, actor, q=q, org_id=org_id, status_filter=status, page=page
    )


@router.post("/admin/members/lookup")
def members_lookup(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    id_number: Annotated[str, Form()] = "",
) -> Response:
    """Find a member by exact ID number (posted, so the number is in no URL or access log)."""
    outcome = attempt(
        request,
        session,
        lambda: lookup_members(
            session=session,
            actor=actor,
            id_number=id_number[:40],
            hash_key=get_settings().id_hash_key,
        ),
    )
    if isinstance(outcome, str):
        return _members_page(request, session, actor, error=outcome, status=400)
    return _members_page(request, session, actor, found_by_number=outcome)


def _member_form(
    request: Request,
    session: Session,
    actor: User,
    *,
    member_id: int | None = None,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    member = (
        get_managed_member(session=session, actor=actor, member_id=member_id)
        if member_id is not None
        else None
    )
    if values is None:
        values = (
            {
                "name": member.name,
                "org_id": str(member.org_id),
                "phone": member.phone,
                "joined_on": member.joined_on.isoformat() if member.joined_on else "",
            }
            if member is not None
            else {"org_id": request.query_params.get("org_id", "")}
        )
    return render(
        request,
        "people/member_form.html",
        {
            "user": actor,
            "section": "members",
            "member": member,
            "values": values,
            "orgs": active_choices(org_tree(session=session, actor=actor)),
            "error": error,
            "done": request.query_params.get("done"),
        },
        status=status,
    )


def _member_values(
    name: str, id_number: str, org_id: str, phone: str, joined_on: str
) -> dict[str, Any]:
    return {
        "name": name,
        "id_number": id_number,
        "org_id": optional_id(org_id),
        "phone": phone,
        "joined_on": joined_on or None,
    }


@router.get("/admin/members/new")
def member_new(request: Request, session: SessionDep, actor: AdminUser) -> Response:
    """The form for a new member."""
    return _member_form(request, session, actor)


@router.post("/admin/members")
def member_create(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    name: Annotated[str, Form()] = "",
    id_number: Annotated[str, Form()] = "",
    org_id: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    joined_on: Annotated[str, Form()] = "",
) -> Response:
    """Register the member."""

    def change() -> int:
        body = MemberCreate.model_validate(
            _member_values(name, id_number, org_id, phone, joined_on)
        )
        return register_member(
            session=session,
            actor=actor,
            org_id=body.org_id,
            name=body.name,
            id_number=body.id_number,
            hash_key=get_settings().id_hash_key,
            phone=body.phone,
            joined_on=body.joined_on,
            address=client_address(request),
        ).id

    outcome = attempt(request, session, change)
    if isinstance(outcome, str):
        # The ID number is never sent back into the page.
        values = {"name": name, "org_id": org_id, "phone": phone, "joined_on": joined_on}
        return _member_form(request, session, actor, values=values, error=outcome, status=400)
    return redirect(f"/admin/members/{outcome}?done=created")


@router.get("/admin/members/import")
def import_page(request: Request, actor: AdminUser) -> Response:
    """The roster import form."""
    return _import_page(request, actor)


def _import_page(
    request: Request,
    actor: User,
    *,
    report: ImportReport | None = None,
    checked_only: bool = False,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "people/import.html",
        {
            "user": actor,
            "section": "members",
            "report": report,
            "problems": [
                {"row": problem.row, "message": error_text(reader_locale(request), problem.error)}
                for problem in (report.errors if report else [])
            ],
            "checked_only": checked_only,
            "max_mb": MAX_ROSTER_BYTES // 1024**2,
            "error": error,
        },
        status=status,
    )


@router.post("/admin/members/import")
def import_roster_page(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    file: Annotated[UploadFile, File()],
    check: Annotated[str, Form()] = "",
) -> Response:
    """Import (or, with `check`, only check) a roster and show the report row by row."""
    data = file.file.read(MAX_ROSTER_BYTES + 1)
    if len(data) > MAX_ROSTER_BYTES:
        message = gettext(
            reader_locale(request),
            N_("The file is larger than the %(limit)s MB limit."),
            limit=MAX_ROSTER_BYTES // 1024**2,
        )
        return _import_page(request, actor, error=message, status=413)
    outcome = attempt(
        request,
        session,
        lambda: import_roster(
            session=session,
            actor=actor,
            data=data,
            hash_key=get_settings().id_hash_key,
            apply=not check,
            file_name=file.filename or "",
            address=client_address(request),
        ),
    )
    if isinstance(outcome, str):
        return _import_page(request, actor, error=outcome, status=400)
    return _import_page(
        request,
        actor,
        report=outcome,
        checked_only=bool(check),
        status=400 if outcome.errors else 200,
    )


@router.get("/admin/members/{member_id}")
def member_page(
    request: Request, member_id: RowId, session: SessionDep, actor: AdminUser
) -> Response:
    """One member: edit the details, deactivate or reactivate."""
    return _member_form(request, session, actor, member_id=member_id)


@router.post("/admin/members/{member_id}")
def member_update(
    request: Request,
    member_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    name: Annotated[str, Form()] = "",
    id_number: Annotated[str, Form()] = "",
    org_id: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    joined_on: Annotated[str, Form()] = "",
) -> Response:
    """Save the member's details (an empty ID number field keeps the number)."""

    def change() -> None:
        given = _member_values(name, id_number, org_id, phone, joined_on)
        body = MemberEdit.model_validate({**given, "id_number": id_number or None})
        update_member(
            session=session,
            actor=actor,
            member_id=member_id,
            name=body.name,
            org_id=body.org_id,
            phone=body.phone,
            joined_on=body.joined_on,
            id_number=body.id_number,
            hash_key=get_settings().id_hash_key,
            address=client_address(request),
        )

    outcome = attempt(request, session, change)
    if isinstance(outcome, str):
        values = {"name": name, "org_id": org_id, "phone": phone, "joined_on": joined_on}
        return _member_form(
            request, session, actor, member_id=member_id, values=values, error=outcome, status=400
        )
    return redirect(f"/admin/members/{member_id}?done=saved")


@router.post("/admin/members/{member_id}/active")
def member_active(
    request: Request,
    member_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    active: Annotated[str, Form()] = "",
) -> Response:
    """Deactivate (active=0) or reactivate (active=1) the member."""
    wanted = active == "1"

    def change() -> None:
        set_member_active(
            session=session,
            actor=actor,
            member_id=member_id,
            active=wanted,
            address=client_address(request),
        )

    outcome = attempt(request, session, change)
    if isinstance(outcome, str):
        return _member_form(request, session, actor, member_id=member_id, error=outcome, status=400)
    return redirect(f"/admin/members/{member_id}?done={'reactivated' if wanted else 'deactivated'}")
