"""Administration pages of members' logins: creating one with a one-time password, issuing an
invitation code for a member, and a printable batch of codes for a branch."""

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from core.api import RowId, SessionDep, verify_csrf
from core.errors import InvalidInput
from core.i18n import N_
from core.people.api import AdminUser, client_address, reader_locale
from core.people.forms import active_choices, admin_page, optional_id, submit
from core.people.invitations import IssuedCode, issue_branch_invitations, issue_invitation
from core.people.logins import create_member_login
from core.people.member_pages import member_form_page
from core.people.members import get_managed_member
from core.people.models import User
from core.people.orgs import org_tree
from core.people.sheets import invitation_sheet
from core.settings import get_settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


@router.post("/admin/members/{member_id}/login")
def member_login(
    request: Request,
    member_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    login: Annotated[str, Form()] = "",
) -> Response:
    """Give the member a login with a generated password, shown once on the next page."""

    def change() -> tuple[User, str]:
        return create_member_login(
            session=session,
            actor=actor,
            member_id=member_id,
            login=login[:200] or None,
            address=client_address(request),
        )

    def shown(created: tuple[User, str]) -> Response:
        account, password = created
        member = get_managed_member(session=session, actor=actor, member_id=member_id)
        response = admin_page(
            request,
            "people/member_login.html",
            actor=actor,
            section="members",
            member=member,
            account=account,
            password=password,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    again = partial(member_form_page, request, session, actor, member_id=member_id)
    return submit(request, session, change, done=shown, again=again)


def _sheet_page(request: Request, actor: User, codes: list[IssuedCode], **context: Any) -> Response:
    response = admin_page(
        request,
        "people/invitations.html",
        actor=actor,
        section="members",
        sheet=invitation_sheet(codes, reader_locale(request)),
        **context,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/members/{member_id}/invitation")
def member_invitation(
    request: Request, member_id: RowId, session: SessionDep, actor: AdminUser
) -> Response:
    """Issue an invitation code for the member and show it once, ready to print."""

    def change() -> IssuedCode:
        return issue_invitation(
            session=session, actor=actor, member_id=member_id, address=client_address(request)
        )

    again = partial(member_form_page, request, session, actor, member_id=member_id)
    return submit(
        request,
        session,
        change,
        done=lambda code: _sheet_page(request, actor, [code], orgs=None),
        again=again,
    )


def _batch_page(
    request: Request,
    session: Session,
    actor: User,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return admin_page(
        request,
        "people/invitations.html",
        actor=actor,
        section="members",
        error=error,
        status=status,
        sheet=None,
        orgs=active_choices(org_tree(session=session, actor=actor)),
        org_filter=optional_id(request.query_params.get("org_id", "")),
        invitation_days=get_settings().invitation_days,
    )


@router.get("/admin/invitations")
def invitations_page(request: Request, session: SessionDep, actor: AdminUser) -> Response:
    """Issue a printable batch of codes for a branch's members who have no login yet."""
    return _batch_page(request, session, actor)


@router.post("/admin/invitations")
def invitations_issue(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    org_id: Annotated[str, Form()] = "",
) -> Response:
    """Issue the batch and show the sheet once."""

    def change() -> list[IssuedCode]:
        org = optional_id(org_id)
        if org is None:
            raise InvalidInput(N_("Choose an organisation."))
        return issue_branch_invitations(
            session=session, actor=actor, org_id=org, address=client_address(request)
        )

    return submit(
        request,
        session,
        change,
        done=lambda codes: _sheet_page(request, actor, codes, orgs=None),
        again=partial(_batch_page, request, session, actor),
    )
