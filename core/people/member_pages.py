"""HTML pages of member administration: the member list and search, the member form, and
roster import with its row-by-row report. The export is the API's download."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from core.api import RowId, SessionDep, verify_csrf
from core.i18n import N_, error_text, gettext
from core.people.api import AdminUser, client_address, reader_locale
from core.people.forms import (
    active_choices,
    admin_page,
    optional_id,
    pager,
    redirect,
    submit,
    switched,
)
from core.people.members import (
    get_managed_member,
    list_members,
    lookup_members,
    register_member,
    set_member_active,
    update_member,
)
from core.people.models import Member, User
from core.people.orgs import org_tree
from core.people.roster import MAX_ROSTER_BYTES, ImportReport, import_roster
from core.people.schemas import MemberCreate, MemberEdit
from core.people.sheets import invitation_sheet
from core.settings import get_settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


@dataclass(frozen=True)
class MemberForm:
    """The member form as posted (a route's dependency)."""

    name: Annotated[str, Form()] = ""
    id_number: Annotated[str, Form()] = ""
    org_id: Annotated[str, Form()] = ""
    phone: Annotated[str, Form()] = ""
    joined_on: Annotated[str, Form()] = ""
    duty: Annotated[str, Form()] = "member"

    def fields(self) -> dict[str, Any]:
        """The fields as the member schemas take them."""
        return {
            "name": self.name,
            "id_number": self.id_number,
            "org_id": optional_id(self.org_id),
            "phone": self.phone,
            "joined_on": self.joined_on or None,
            "duty": self.duty or "member",
        }

    def shown(self) -> dict[str, str]:
        """What the form shows again after a refusal: the ID number is never sent back."""
        return {
            "name": self.name,
            "org_id": self.org_id,
            "phone": self.phone,
            "joined_on": self.joined_on,
            "duty": self.duty,
        }


MemberFields = Annotated[MemberForm, Depends()]


def _members_page(
    request: Request,
    session: Session,
    actor: User,
    *,
    q: str = "",
    org_id: str = "",
    status_filter: str = "",
    page: str = "1",
    found_by_number: list[Member] | None = None,
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
    return admin_page(
        request,
        "people/members.html",
        actor=actor,
        section="members",
        error=error,
        status=status,
        members=members,
        paging=paging,
        q=q[:200],
        org_filter=org_filter,
        status_filter=status_filter,
        by_number=found_by_number is not None,
        orgs=org_tree(session=session, actor=actor),
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
    page = partial(_members_page, request, session, actor)

    def change() -> list[Member]:
        hash_key = get_settings().id_hash_key
        return lookup_members(
            session=session, actor=actor, id_number=id_number[:40], hash_key=hash_key
        )

    return submit(
        request, session, change, done=lambda found: page(found_by_number=found), again=page
    )


def member_form_page(
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
                "duty": member.duty.value,
            }
            if member is not None
            else {"org_id": request.query_params.get("org_id", "")}
        )
    login_account = (
        session.get(User, member.user_id) if member is not None and member.user_id else None
    )
    return admin_page(
        request,
        "people/member_form.html",
        actor=actor,
        section="members",
        error=error,
        status=status,
        member=member,
        login_account=login_account,
        values=values,
        orgs=active_choices(org_tree(session=session, actor=actor)),
    )


def _on_member_page(
    request: Request,
    session: Session,
    actor: User,
    member_id: int,
    change: Callable[[], object],
    notice: str,
    values: dict[str, str] | None = None,
) -> Response:
    """A change posted from a member's page, which shows again after it."""
    again = partial(member_form_page, request, session, actor, member_id=member_id, values=values)
    done = f"/admin/members/{member_id}?done={notice}"
    return submit(request, session, change, done=done, again=again)


@router.get("/admin/members/new")
def member_new(request: Request, session: SessionDep, actor: AdminUser) -> Response:
    """The form for a new member."""
    return member_form_page(request, session, actor)


@router.post("/admin/members")
def member_create(
    request: Request, session: SessionDep, actor: AdminUser, form: MemberFields
) -> Response:
    """Register the member."""

    def change() -> int:
        body = MemberCreate.model_validate(form.fields())
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
            duty=body.duty,
        ).id

    return submit(
        request,
        session,
        change,
        done=lambda member_id: redirect(f"/admin/members/{member_id}?done=created"),
        again=partial(member_form_page, request, session, actor, values=form.shown()),
    )


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
    return admin_page(
        request,
        "people/import.html",
        actor=actor,
        section="members",
        error=error,
        status=status,
        report=report,
        problems=[
            {"row": problem.row, "message": error_text(reader_locale(request), problem.error)}
            for problem in (report.errors if report else [])
        ],
        checked_only=checked_only,
        max_mb=MAX_ROSTER_BYTES // 1024**2,
        sheet=invitation_sheet(report.invitations, reader_locale(request)) if report else None,
    )


@router.post("/admin/members/import")
def import_roster_page(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    file: Annotated[UploadFile, File()],
    check: Annotated[str, Form()] = "",
    invite: Annotated[str, Form()] = "",
) -> Response:
    """Import (or, with `check`, only check) a roster and show the report row by row; with
    `invite`, the invitation codes of members without a login, to print."""
    page = partial(_import_page, request, actor)
    data = file.file.read(MAX_ROSTER_BYTES + 1)
    if len(data) > MAX_ROSTER_BYTES:
        message = gettext(
            reader_locale(request),
            N_("The file is larger than the %(limit)s MB limit."),
            limit=MAX_ROSTER_BYTES // 1024**2,
        )
        return page(error=message, status=413)

    def change() -> ImportReport:
        return import_roster(
            session=session,
            actor=actor,
            data=data,
            hash_key=get_settings().id_hash_key,
            apply=not check,
            file_name=file.filename or "",
            address=client_address(request),
            invite=bool(invite) and not check,
        )

    def shown(report: ImportReport) -> Response:
        return page(report=report, checked_only=bool(check), status=400 if report.errors else 200)

    return submit(request, session, change, done=shown, again=page)


@router.get("/admin/members/{member_id}")
def member_page(
    request: Request, member_id: RowId, session: SessionDep, actor: AdminUser
) -> Response:
    """One member: edit the details, deactivate or reactivate."""
    return member_form_page(request, session, actor, member_id=member_id)


@router.post("/admin/members/{member_id}")
def member_update(
    request: Request, member_id: RowId, session: SessionDep, actor: AdminUser, form: MemberFields
) -> Response:
    """Save the member's details (an empty ID number field keeps the number)."""

    def change() -> None:
        body = MemberEdit.model_validate({**form.fields(), "id_number": form.id_number or None})
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
            duty=body.duty,
        )

    return _on_member_page(request, session, actor, member_id, change, "saved", form.shown())


@router.post("/admin/members/{member_id}/active")
def member_active(
    request: Request,
    member_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    active: Annotated[str, Form()] = "",
) -> Response:
    """Deactivate (active=0) or reactivate (active=1) the member."""
    wanted, notice = switched(active)

    def change() -> None:
        set_member_active(
            session=session,
            actor=actor,
            member_id=member_id,
            active=wanted,
            address=client_address(request),
        )

    return _on_member_page(request, session, actor, member_id, change, notice)
