"""JSON API of the administration of people: organisations, accounts and roles, members and
rosters. Every route is for admins and reaches only the subtrees they manage."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from core.api import (
    MAX_ID,
    RowId,
    SessionDep,
    client_address,
    current_user,
    unit_of_work,
    verify_csrf,
)
from core.errors import NotFound, PermissionDenied
from core.i18n import LOCALES, N_, error_text, gettext
from core.paging import MAX_PAGE, MAX_PER_PAGE, PER_PAGE, Page
from core.people import accounts, passwords
from core.people.members import (
    get_managed_member,
    list_members,
    lookup_members,
    register_member,
    set_member_active,
    update_member,
)
from core.people.models import Member, RoleGrant, User
from core.people.orgs import OrgNode, add_org, move_org, org_tree, rename_org, set_org_active
from core.people.permissions import is_admin
from core.people.roster import (
    MAX_ROSTER_BYTES,
    ImportReport,
    RosterFormat,
    export_roster,
    import_roster,
)
from core.people.schemas import (
    GrantCreate,
    GrantRead,
    ImportReportRead,
    InvitationRead,
    MemberCreate,
    MemberLookup,
    MemberRead,
    MemberUpdate,
    OrgCreate,
    OrgMove,
    OrgRead,
    OrgUpdate,
    PageRead,
    RowErrorRead,
    UserCreate,
    UserCreated,
    UserRead,
    UserUpdate,
)
from core.people.users import (
    add_user,
    assign_role,
    get_managed_user,
    list_users,
    rename_user,
    revoke_role,
    set_user_active,
)
from core.security import password_slots
from core.settings import get_settings

router = APIRouter(prefix="/api", dependencies=[Depends(verify_csrf)], tags=["administration"])

SPREADSHEET_TYPES = {
    RosterFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    RosterFormat.csv: "text/csv; charset=utf-8",
}


def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    """The logged-in user if they administer the platform or some subtree (403 otherwise)."""
    if not is_admin(user):
        raise PermissionDenied(N_("Only administrators may do this."))
    return user


AdminUser = Annotated[User, Depends(admin_user)]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
PerPage = Annotated[int, Query(ge=1, le=MAX_PER_PAGE)]
SearchText = Annotated[str, Query(max_length=200)]
OrgFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def reader_locale(request: Request) -> str:
    """The reader's language for texts made outside a template, chosen as the pages choose it
    (?lang=, then the language cookie, then the site default)."""
    for candidate in (request.query_params.get("lang"), request.cookies.get("lang")):
        if candidate in LOCALES:
            return candidate
    return get_settings().default_locale


def org_read(node: OrgNode) -> OrgRead:
    """An organisation of the tree as the API shows it."""
    org = node.org
    return OrgRead(
        id=org.id,
        name=org.name,
        kind=org.kind,
        parent_id=org.parent_id,
        path=org.path,
        depth=node.depth,
        active=org.active,
        members=node.members,
        users=node.users,
    )


def user_read(user: User) -> UserRead:
    """An account as the API shows it, with its roles."""
    return UserRead(
        id=user.id,
        login=user.login,
        display_name=user.display_name,
        active=user.active,
        must_change_password=user.must_change_password,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
        grants=[grant_read(g) for g in sorted(user.grants, key=lambda g: g.id)],
    )


def grant_read(grant: RoleGrant) -> GrantRead:
    """A role held on an organisation's subtree, as the API shows it."""
    return GrantRead(id=grant.id, role=grant.role, org_id=grant.org_id, org_name=grant.org.name)


def member_read(member: Member) -> MemberRead:
    """A member as the API shows it, ID number masked."""
    return MemberRead(
        id=member.id,
        name=member.name,
        id_number_masked=member.id_number_masked,
        org_id=member.org_id,
        org_name=member.org.name,
        phone=member.phone,
        joined_on=member.joined_on,
        duty=member.duty,
        active=member.active,
        created_at=member.created_at,
        updated_at=member.updated_at,
    )


def page_read(page: Page[Any], shown: list[Any]) -> dict[str, Any]:
    """A page of a list as the API shows it (PageRead): its items as shown, and where it is."""
    return {"items": shown, "total": page.total, "page": page.page, "per_page": page.per_page}


def _org_shown(session: Session, actor: User, org_id: int) -> OrgRead:
    """An organisation the actor manages, with its place and counts in their tree."""
    nodes = org_tree(session=session, actor=actor)
    node = next((node for node in nodes if node.org.id == org_id), None)
    if node is None:
        raise NotFound(N_("Organisation %(id)s not found."), id=org_id)
    return org_read(node)


# Organisations


@router.get("/orgs", response_model=list[OrgRead])
def orgs_index(session: SessionDep, actor: AdminUser) -> Any:
    """The organisations the caller manages, in tree order, with member and account counts."""
    return [org_read(node) for node in org_tree(session=session, actor=actor)]


@router.post("/orgs", response_model=OrgRead, status_code=201)
def orgs_create(body: OrgCreate, request: Request, session: SessionDep, actor: AdminUser) -> Any:
    """Add an organisation under one the caller manages."""
    org = add_org(
        session=session,
        actor=actor,
        name=body.name,
        kind=body.kind,
        parent_id=body.parent_id,
        address=client_address(request),
    )
    return _org_shown(session, actor, org.id)


@router.get("/orgs/{org_id}", response_model=OrgRead)
def orgs_show(org_id: RowId, session: SessionDep, actor: AdminUser) -> Any:
    """One organisation the caller manages."""
    return _org_shown(session, actor, org_id)


@router.patch("/orgs/{org_id}", response_model=OrgRead)
def orgs_update(
    org_id: RowId, body: OrgUpdate, request: Request, session: SessionDep, actor: AdminUser
) -> Any:
    """Rename an organisation, or deactivate / reactivate it with its subtree."""
    address = client_address(request)
    if body.name is not None:
        rename_org(session=session, actor=actor, org_id=org_id, name=body.name, address=address)
    if body.active is not None:
        set_org_active(
            session=session, actor=actor, org_id=org_id, active=body.active, address=address
        )
    return _org_shown(session, actor, org_id)


@router.post("/orgs/{org_id}/move", response_model=OrgRead)
def orgs_move(
    org_id: RowId, body: OrgMove, request: Request, session: SessionDep, actor: AdminUser
) -> Any:
    """Move an organisation and its subtree under another parent."""
    move_org(
        session=session,
        actor=actor,
        org_id=org_id,
        parent_id=body.parent_id,
        address=client_address(request),
    )
    return _org_shown(session, actor, org_id)


# Accounts and roles


@router.get("/users", response_model=PageRead[UserRead])
def users_index(
    session: SessionDep,
    actor: AdminUser,
    q: SearchText = "",
    org_id: OrgFilter = None,
    page: PageNumber = 1,
    per_page: PerPage = PER_PAGE,
) -> Any:
    """Accounts within the caller's reach, searched by login or display name."""
    found = list_users(
        session=session, actor=actor, query=q, org_id=org_id, page=page, per_page=per_page
    )
    return page_read(found, [user_read(user) for user in found.items])


@router.post("/users", response_model=UserCreated, status_code=201)
def users_create(body: UserCreate, request: Request, session: SessionDep, actor: AdminUser) -> Any:
    """Add an account with a first role; a generated password is in this response only."""
    user, password = add_user(
        session=session,
        actor=actor,
        login=body.login,
        role=body.role,
        org_id=body.org_id,
        display_name=body.display_name,
        password=body.password,
        address=client_address(request),
    )
    return UserCreated(user=user_read(user), password=password)


@router.get("/users/{user_id}", response_model=UserRead)
def users_show(user_id: RowId, session: SessionDep, actor: AdminUser) -> Any:
    """One account within the caller's reach."""
    return user_read(get_managed_user(session=session, actor=actor, user_id=user_id))


@router.patch("/users/{user_id}", response_model=UserRead)
def users_update(
    user_id: RowId, body: UserUpdate, request: Request, session: SessionDep, actor: AdminUser
) -> Any:
    """Rename, deactivate (ending its sessions) or reactivate an account."""
    if body.display_name is not None:
        rename_user(session=session, actor=actor, user_id=user_id, display_name=body.display_name)
    if body.active is not None:
        set_user_active(
            session=session,
            actor=actor,
            user_id=user_id,
            active=body.active,
            address=client_address(request),
        )
    return user_read(get_managed_user(session=session, actor=actor, user_id=user_id))


@router.post("/users/{user_id}/roles", response_model=GrantRead, status_code=201)
def users_grant(
    user_id: RowId, body: GrantCreate, request: Request, session: SessionDep, actor: AdminUser
) -> Any:
    """Grant the account a role on an organisation's subtree."""
    grant = assign_role(
        session=session,
        actor=actor,
        user_id=user_id,
        role=body.role,
        org_id=body.org_id,
        address=client_address(request),
    )
    return grant_read(grant)


@router.delete("/users/{user_id}/roles/{grant_id}", status_code=204)
def users_revoke(
    user_id: RowId, grant_id: RowId, request: Request, session: SessionDep, actor: AdminUser
) -> None:
    """Revoke one of the account's roles."""
    revoke_role(
        session=session,
        actor=actor,
        user_id=user_id,
        grant_id=grant_id,
        address=client_address(request),
    )


# Members and rosters


@router.get("/members", response_model=PageRead[MemberRead])
def members_index(
    session: SessionDep,
    actor: AdminUser,
    q: SearchText = "",
    org_id: OrgFilter = None,
    active: bool | None = None,
    page: PageNumber = 1,
    per_page: PerPage = PER_PAGE,
) -> Any:
    """Members of the caller's subtrees (or of `org_id`'s), searched by name."""
    found = list_members(
        session=session,
        actor=actor,
        query=q,
        org_id=org_id,
        active=active,
        page=page,
        per_page=per_page,
    )
    return page_read(found, [member_read(member) for member in found.items])


@router.post("/members", response_model=MemberRead, status_code=201)
def members_create(
    body: MemberCreate, request: Request, session: SessionDep, actor: AdminUser
) -> Any:
    """Register a member in an organisation the caller manages."""
    member = register_member(
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
    )
    return member_read(member)


@router.post("/members/lookup", response_model=list[MemberRead])
def members_lookup(body: MemberLookup, session: SessionDep, actor: AdminUser) -> Any:
    """The member with exactly this ID number, if the caller manages them. The number travels
    in the body, so it appears in no URL, history or access log."""
    found = lookup_members(
        session=session, actor=actor, id_number=body.id_number, hash_key=get_settings().id_hash_key
    )
    return [member_read(member) for member in found]


@router.post(
    "/members/import",
    response_model=ImportReportRead,
    responses={400: {"model": ImportReportRead}, 413: {}},
)
def members_import(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    file: Annotated[UploadFile, File()],
    dry_run: Annotated[bool, Form()] = False,
    invite: Annotated[bool, Form()] = False,
) -> Response:
    """Import a roster (XLSX or CSV): all rows or none. 200 with the counts when it went in
    (or would, with `dry_run`); 400 with every row's problem when it did not. With `invite`,
    members in the file without a login get invitation codes, listed in this answer only."""
    locale = reader_locale(request)
    data = file.file.read(MAX_ROSTER_BYTES + 1)
    if len(data) > MAX_ROSTER_BYTES:
        message = gettext(
            locale,
            N_("The file is larger than the %(limit)s MB limit."),
            limit=MAX_ROSTER_BYTES // 1024**2,
        )
        return JSONResponse({"detail": message}, status_code=413)
    report = import_roster(
        session=session,
        actor=actor,
        data=data,
        hash_key=get_settings().id_hash_key,
        apply=not dry_run,
        file_name=file.filename or "",
        address=client_address(request),
        invite=invite and not dry_run,
    )
    body = report_read(report, locale).model_dump(mode="json")
    if report.errors:
        body["detail"] = gettext(locale, N_("Nothing was imported: correct the rows listed."))
        return JSONResponse(body, status_code=400)
    return JSONResponse(body, headers={"Cache-Control": "no-store"} if invite else None)


def report_read(report: ImportReport, locale: str) -> ImportReportRead:
    """An import report with its problems told in `locale`."""
    return ImportReportRead(
        applied=report.applied,
        added=report.added,
        updated=report.updated,
        unchanged=report.unchanged,
        errors=[
            RowErrorRead(row=problem.row, message=error_text(locale, problem.error))
            for problem in report.errors
        ],
        invitations=[
            InvitationRead(
                member_id=c.member_id,
                name=c.name,
                org_name=c.org_name,
                id_number_masked=c.id_number_masked,
                code=c.code,
                expires_at=c.expires_at,
            )
            for c in report.invitations
        ],
    )


@router.get("/members/export")
def members_export(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    format: RosterFormat = RosterFormat.xlsx,
    org_id: OrgFilter = None,
) -> Response:
    """Download the roster of the caller's subtrees (or `org_id`'s), ID numbers masked."""
    data = export_roster(
        session=session,
        actor=actor,
        file_format=format,
        locale=reader_locale(request),
        org_id=org_id,
        address=client_address(request),
    )
    return Response(
        data,
        media_type=SPREADSHEET_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="roster.{format.value}"'},
    )


@router.get("/members/{member_id}", response_model=MemberRead)
def members_show(member_id: RowId, session: SessionDep, actor: AdminUser) -> Any:
    """One member the caller manages."""
    return member_read(get_managed_member(session=session, actor=actor, member_id=member_id))


@router.patch("/members/{member_id}", response_model=MemberRead)
def members_update(
    member_id: RowId, body: MemberUpdate, request: Request, session: SessionDep, actor: AdminUser
) -> Any:
    """Change a member's details, or deactivate / reactivate them."""
    member = get_managed_member(session=session, actor=actor, member_id=member_id)
    given = body.model_dump(exclude_unset=True)
    address = client_address(request)
    # A field sent as null keeps its value, except the date of joining, which null clears.
    fields: dict[str, Any] = {
        "name": member.name,
        "org_id": member.org_id,
        "phone": member.phone,
        "joined_on": member.joined_on,
        "duty": member.duty,
    }
    fields |= {
        k: v for k, v in given.items() if k in fields and (v is not None or k == "joined_on")
    }
    if set(given) - {"active"}:
        member = update_member(
            session=session,
            actor=actor,
            member_id=member_id,
            id_number=given.get("id_number"),
            hash_key=get_settings().id_hash_key,
            address=address,
            **fields,
        )
    if body.active is not None:
        member = set_member_active(
            session=session, actor=actor, member_id=member_id, active=body.active, address=address
        )
    return member_read(member)


@router.post("/users/{user_id}/password-reset")
async def users_password_reset(user_id: RowId, request: Request, actor: AdminUser) -> JSONResponse:
    """Give a user a generated one-time password, shown in this response only; every session
    of theirs ends and they must choose their own password at the next login."""
    password = passwords.generate_password()
    password_hash = await password_slots().hash(password)
    user = await unit_of_work(
        lambda s: accounts.reset_password(
            session=s,
            actor=actor,
            user_id=user_id,
            password_hash=password_hash,
            address=client_address(request),
        )
    )
    return JSONResponse(
        {"id": user.id, "login": user.login, "password": password},
        headers={"Cache-Control": "no-store"},
    )
