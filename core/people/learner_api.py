"""JSON API of members as learners: logins and invitation codes (for admins, in their
subtrees), activation (for anyone holding a code), and a member's own record."""

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from core.api import (
    SESSION_TOKEN,
    CurrentUser,
    RowId,
    SessionDep,
    client_address,
    unit_of_work,
    verify_csrf,
)
from core.errors import NotFound
from core.i18n import N_, error_text
from core.people.api import AdminUser, member_read, reader_locale, user_read
from core.people.errors import AttemptsLocked
from core.people.invitations import (
    IssuedCode,
    check_activation,
    complete_activation,
    issue_branch_invitations,
    issue_invitation,
)
from core.people.logins import create_member_login, member_of, set_email
from core.people.models import User
from core.people.passwords import check_password_strength
from core.people.schemas import (
    Activated,
    Activation,
    EmailChange,
    InvitationRead,
    MemberLoginCreate,
    MemberLoginCreated,
    OwnRecord,
)
from core.security import busy_error, password_slots
from core.settings import get_settings

router = APIRouter(prefix="/api", dependencies=[Depends(verify_csrf)], tags=["learners"])
NO_STORE = {"Cache-Control": "no-store"}


def invitation_read(issued: IssuedCode) -> InvitationRead:
    """An issued code as the API shows it."""
    return InvitationRead(
        member_id=issued.member_id,
        name=issued.name,
        org_name=issued.org_name,
        id_number_masked=issued.id_number_masked,
        code=issued.code,
        expires_at=issued.expires_at,
    )


@router.post("/members/{member_id}/login", response_model=MemberLoginCreated, status_code=201)
def member_login_create(
    member_id: RowId,
    body: MemberLoginCreate,
    request: Request,
    session: SessionDep,
    actor: AdminUser,
) -> JSONResponse:
    """Give a member a login (role `member` on their organisation); the generated password is
    in this response only and must be changed at the first login."""
    user, password = create_member_login(
        session=session,
        actor=actor,
        member_id=member_id,
        login=body.login,
        address=client_address(request),
    )
    created = MemberLoginCreated(member_id=member_id, user=user_read(user), password=password)
    return JSONResponse(created.model_dump(mode="json"), status_code=201, headers=NO_STORE)


@router.post("/members/{member_id}/invitation", response_model=InvitationRead, status_code=201)
def member_invitation(
    member_id: RowId, request: Request, session: SessionDep, actor: AdminUser
) -> JSONResponse:
    """Issue an invitation code for a member without a login (earlier codes stop working)."""
    issued = issue_invitation(
        session=session, actor=actor, member_id=member_id, address=client_address(request)
    )
    body = invitation_read(issued).model_dump(mode="json")
    return JSONResponse(body, status_code=201, headers=NO_STORE)


@router.post("/orgs/{org_id}/invitations", response_model=list[InvitationRead], status_code=201)
def org_invitations(
    org_id: RowId, request: Request, session: SessionDep, actor: AdminUser
) -> JSONResponse:
    """Issue codes for every active member of the organisation's subtree without a login."""
    issued = issue_branch_invitations(
        session=session, actor=actor, org_id=org_id, address=client_address(request)
    )
    body = [invitation_read(code).model_dump(mode="json") for code in issued]
    return JSONResponse(body, status_code=201, headers=NO_STORE)


async def activate(request: Request, form: Activation) -> User:
    """Check the code and the ID number (failures counted), hash the chosen password, then
    create the login and start its session in the browser that activated it."""
    check_password_strength(form.password, login=form.login)
    address = client_address(request)
    key = get_settings().id_hash_key
    check = await unit_of_work(
        lambda s: check_activation(
            session=s, code=form.code, id_number=form.id_number, hash_key=key, address=address
        )
    )
    if check.error is not None:
        raise check.error
    assert check.invitation_id is not None
    slots = password_slots()
    if slots.full(trusted=False):
        raise busy_error()
    password_hash = await slots.hash(form.password)
    invitation_id = check.invitation_id
    user, token = await unit_of_work(
        lambda s: complete_activation(
            session=s,
            invitation_id=invitation_id,
            login=form.login,
            password_hash=password_hash,
            address=address,
            user_agent=request.headers.get("user-agent", ""),
        )
    )
    request.session.clear()
    request.session[SESSION_TOKEN] = token
    return user


@router.post(
    "/activate",
    response_model=Activated,
    status_code=201,
    responses={400: {}, 429: {}, 503: {}},
)
async def activate_api(body: Activation, request: Request) -> Any:
    """Activate an invitation code: the member gets the login and password they chose and is
    logged in (the response sets the session cookie)."""
    try:
        user = await activate(request, body)
    except AttemptsLocked as exc:
        message = error_text(reader_locale(request), exc)
        return JSONResponse({"detail": message}, status_code=429, headers={"Retry-After": "60"})
    return Activated(id=user.id, login=user.login)


@router.get("/me", response_model=OwnRecord)
def own_record(session: SessionDep, user: CurrentUser) -> Any:
    """The caller's own member record, ID number masked (404 for an account without one)."""
    member = member_of(session=session, user=user)
    if member is None:
        raise NotFound(N_("Your account is not linked to a member record."))
    return OwnRecord(member=member_read(member), login=user.login, email=user.email)


@router.put("/account/email", response_model=EmailChange)
def email_change(
    body: EmailChange, request: Request, session: SessionDep, user: CurrentUser
) -> Any:
    """Set or clear one's own e-mail address (where e-mailed notices go)."""
    account = set_email(
        session=session, user=user, email=body.email, address=client_address(request)
    )
    return EmailChange(email=account.email)
