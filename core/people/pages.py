"""HTML pages of the administration of people: the org tree, accounts and roles, members and
rosters. Forms post back here; a refused change shows the same page again with the reason."""

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from core.api import RowId, SessionDep, verify_csrf
from core.errors import InvalidInput
from core.i18n import N_, error_text, gettext
from core.paging import Page, page_links
from core.people.api import AdminUser, client_address, reader_locale
from core.people.members import (
    get_managed_member,
    list_members,
    lookup_members,
    register_member,
    set_member_active,
    update_member,
)
from core.people.models import OrgKind, Role, User
from core.people.orgs import (
    OrgNode,
    add_org,
    move_org,
    org_tree,
    rename_org,
    set_org_active,
)
from core.people.permissions import can_grant, can_manage_user, is_platform_admin
from core.people.roster import MAX_ROSTER_BYTES, ImportReport, import_roster
from core.people.schemas import (
    DISPLAY_NAME_MAX,
    LOGIN_MAX,
    MEMBER_NAME_MAX,
    ORG_NAME_MAX,
    PASSWORD_MAX,
    PHONE_MAX,
    GrantCreate,
    MemberCreate,
    MemberEdit,
    OrgCreate,
    OrgUpdate,
    UserCreate,
    UserUpdate,
)
from core.people.service import get_managed_org
from core.people.users import (
    add_user,
    assign_role,
    get_managed_user,
    list_users,
    rename_user,
    revoke_role,
    set_user_active,
)
from core.settings import get_settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
T = TypeVar("T")

# Field names as the forms label them, for messages about a field.
FIELD_LABELS = {
    "OrgCreate.name": N_("Organisation name"),
    "OrgUpdate.name": N_("Organisation name"),
    "name": N_("Name"),
    "kind": N_("Kind"),
    "parent_id": N_("Parent organisation"),
    "login": N_("Login"),
    "display_name": N_("Display name"),
    "password": N_("Password"),
    "role": N_("Role"),
    "org_id": N_("Organisation"),
    "id_number": N_("ID number"),
    "phone": N_("Phone"),
    "joined_on": N_("Joined on"),
}
LIMITS = {
    "org_name": ORG_NAME_MAX,
    "login": LOGIN_MAX,
    "display_name": DISPLAY_NAME_MAX,
    "password": PASSWORD_MAX,
    "member_name": MEMBER_NAME_MAX,
    "phone": PHONE_MAX,
}
_LEVEL = {kind: level for level, kind in enumerate(OrgKind)}


def _render(
    request: Request, template: str, context: dict[str, Any], *, status: int = 200
) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(
        request, template, {"limits": LIMITS, **context}, status_code=status
    )
    return response


def _form_problem(locale: str, exc: ValidationError) -> str:
    """A validation error of a form told in the reader's language, field by field."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        label = FIELD_LABELS.get(f"{exc.title}.{field}") or FIELD_LABELS.get(field, field)
        label = gettext(locale, label)
        if error["type"] == "string_too_long":
            limit = (error.get("ctx") or {}).get("max_length", "")
            problems.append(
                gettext(
                    locale, N_("%(field)s: at most %(max)s characters."), field=label, max=limit
                )
            )
        elif error["type"] in ("missing", "string_too_short"):
            problems.append(gettext(locale, N_("%(field)s is required."), field=label))
        else:
            problems.append(gettext(locale, N_("%(field)s is not valid."), field=label))
    return " ".join(dict.fromkeys(problems))


def _attempt(request: Request, session: Session, change: Callable[[], T]) -> T | str:
    """Run a change asked for by a form; if it is refused, undo whatever it began and return
    the reason in the reader's language (a wrong role or scope still raises: an error page)."""
    try:
        return change()
    except ValidationError as exc:
        session.rollback()
        return _form_problem(reader_locale(request), exc)
    except InvalidInput as exc:
        session.rollback()
        return error_text(reader_locale(request), exc)


def _optional_id(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


def _pager(request: Request, page: Page[Any]) -> dict[str, Any]:
    return page_links(request.url.path, request.query_params, page)


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _choices(nodes: list[OrgNode]) -> list[OrgNode]:
    return [node for node in nodes if node.org.active]


def _grantable_roles(actor: User) -> list[Role]:
    return [role for role in Role if role is not Role.platform_admin or is_platform_admin(actor)]


@router.get("/admin")
def admin_home(actor: AdminUser) -> Response:
    """The administration starts at the org tree."""
    return _redirect("/admin/orgs")


# Organisations


def _orgs_page(
    request: Request, session: Session, actor: User, *, error: str | None = None, status: int = 200
) -> Response:
    return _render(
        request,
        "people/orgs.html",
        {
            "user": actor,
            "section": "orgs",
            "nodes": org_tree(session=session, actor=actor),
            "kinds": list(OrgKind),
            "top_level": is_platform_admin(actor),
            "error": error,
            "done": request.query_params.get("done"),
        },
        status=status,
    )


@router.get("/admin/orgs")
def orgs_page(request: Request, session: SessionDep, actor: AdminUser) -> Response:
    """The organisations the admin manages, as an indented tree with counts."""
    return _orgs_page(request, session, actor)


@router.post("/admin/orgs")
def orgs_create(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    parent_id: Annotated[str, Form()] = "",
) -> Response:
    """Add an organisation (top-level, or under the one whose page the form is on)."""
    parent = _optional_id(parent_id)

    def change() -> int:
        body = OrgCreate.model_validate({"name": name, "kind": kind, "parent_id": parent})
        return add_org(
            session=session,
            actor=actor,
            name=body.name,
            kind=body.kind,
            parent_id=body.parent_id,
            address=client_address(request),
        ).id

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        if parent is not None:
            return _org_page(request, session, actor, parent, error=outcome, status=400)
        return _orgs_page(request, session, actor, error=outcome, status=400)
    return _redirect(f"/admin/orgs/{outcome}?done=created")


def _org_page(
    request: Request,
    session: Session,
    actor: User,
    org_id: int,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    org = get_managed_org(session=session, actor=actor, org_id=org_id)
    nodes = org_tree(session=session, actor=actor)
    node = next(node for node in nodes if node.org.id == org.id)
    parents = [
        other
        for other in _choices(nodes)
        if _LEVEL[other.org.kind] < _LEVEL[org.kind]
        and not other.org.path.startswith(org.path)
        and other.org.id != org.parent_id
    ]
    return _render(
        request,
        "people/org.html",
        {
            "user": actor,
            "section": "orgs",
            "node": node,
            "org": org,
            "parents": parents,
            "may_move_to_top": is_platform_admin(actor) and org.parent_id is not None,
            "child_kinds": [kind for kind in OrgKind if _LEVEL[kind] > _LEVEL[org.kind]],
            "error": error,
            "done": request.query_params.get("done"),
        },
        status=status,
    )


@router.get("/admin/orgs/{org_id}")
def org_page(request: Request, org_id: RowId, session: SessionDep, actor: AdminUser) -> Response:
    """One organisation: rename, add a sub-organisation, move, deactivate or reactivate."""
    return _org_page(request, session, actor, org_id)


@router.post("/admin/orgs/{org_id}/rename")
def org_rename(
    request: Request,
    org_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    name: Annotated[str, Form()] = "",
) -> Response:
    """Rename the organisation."""

    def change() -> None:
        OrgUpdate.model_validate({"name": name})
        rename_org(
            session=session, actor=actor, org_id=org_id, name=name, address=client_address(request)
        )

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        return _org_page(request, session, actor, org_id, error=outcome, status=400)
    return _redirect(f"/admin/orgs/{org_id}?done=renamed")


@router.post("/admin/orgs/{org_id}/move")
def org_move(
    request: Request,
    org_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    parent_id: Annotated[str, Form()] = "",
) -> Response:
    """Move the organisation and its subtree under another parent ("top" for none)."""

    def change() -> None:
        if parent_id != "top" and _optional_id(parent_id) is None:
            raise InvalidInput(N_("Choose where to move it."))
        move_org(
            session=session,
            actor=actor,
            org_id=org_id,
            parent_id=_optional_id(parent_id),
            address=client_address(request),
        )

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        return _org_page(request, session, actor, org_id, error=outcome, status=400)
    return _redirect(f"/admin/orgs/{org_id}?done=moved")


@router.post("/admin/orgs/{org_id}/active")
def org_active(
    request: Request,
    org_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    active: Annotated[str, Form()] = "",
) -> Response:
    """Deactivate (active=0) or reactivate (active=1) the organisation with its subtree."""
    wanted = active == "1"

    def change() -> None:
        set_org_active(
            session=session,
            actor=actor,
            org_id=org_id,
            active=wanted,
            address=client_address(request),
        )

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        return _org_page(request, session, actor, org_id, error=outcome, status=400)
    return _redirect(f"/admin/orgs/{org_id}?done={'reactivated' if wanted else 'deactivated'}")


# Accounts and roles


@router.get("/admin/users")
def users_page(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    q: str = "",
    org_id: str = "",
    page: str = "1",
) -> Response:
    """Accounts within the admin's reach, searched by login or display name, page by page."""
    org_filter = _optional_id(org_id)
    found = list_users(
        session=session,
        actor=actor,
        query=q[:200],
        org_id=org_filter,
        page=_optional_id(page) or 1,
    )
    return _render(
        request,
        "people/users.html",
        {
            "user": actor,
            "section": "users",
            "accounts": found.items,
            "paging": _pager(request, found),
            "q": q[:200],
            "org_filter": org_filter,
            "orgs": org_tree(session=session, actor=actor),
        },
    )


def _new_user_page(
    request: Request,
    session: Session,
    actor: User,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return _render(
        request,
        "people/user_new.html",
        {
            "user": actor,
            "section": "users",
            "orgs": _choices(org_tree(session=session, actor=actor)),
            "roles": _grantable_roles(actor),
            "values": values or {"org_id": request.query_params.get("org_id", "")},
            "error": error,
        },
        status=status,
    )


@router.get("/admin/users/new")
def user_new(request: Request, session: SessionDep, actor: AdminUser) -> Response:
    """The form for a new account."""
    return _new_user_page(request, session, actor)


@router.post("/admin/users")
def user_create(
    request: Request,
    session: SessionDep,
    actor: AdminUser,
    login: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    org_id: Annotated[str, Form()] = "",
) -> Response:
    """Add the account and show its password once (generated when none was typed)."""
    values = {
        "login": login,
        "display_name": display_name,
        "role": role,
        "org_id": org_id,
    }

    def change() -> tuple[User, str | None]:
        body = UserCreate.model_validate(
            {**values, "password": password or None, "org_id": _optional_id(org_id)}
        )
        return add_user(
            session=session,
            actor=actor,
            login=body.login,
            role=body.role,
            org_id=body.org_id,
            display_name=body.display_name,
            password=body.password,
            address=client_address(request),
        )

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        return _new_user_page(request, session, actor, values=values, error=outcome, status=400)
    account, generated = outcome
    response = _render(
        request,
        "people/user_created.html",
        {"user": actor, "section": "users", "account": account, "password": generated},
        status=201,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _user_page(
    request: Request,
    session: Session,
    actor: User,
    user_id: int,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    account = get_managed_user(session=session, actor=actor, user_id=user_id)
    return _render(
        request,
        "people/user.html",
        {
            "user": actor,
            "section": "users",
            "account": account,
            "grants": sorted(account.grants, key=lambda g: g.id),
            "revocable": {g.id for g in account.grants if can_grant(actor, g.role, g.org)},
            "manageable": can_manage_user(actor, account),
            "orgs": _choices(org_tree(session=session, actor=actor)),
            "roles": _grantable_roles(actor),
            "error": error,
            "done": request.query_params.get("done"),
        },
        status=status,
    )


@router.get("/admin/users/{user_id}")
def user_page(request: Request, user_id: RowId, session: SessionDep, actor: AdminUser) -> Response:
    """One account: its roles, granting and revoking them, deactivating the account."""
    return _user_page(request, session, actor, user_id)


@router.post("/admin/users/{user_id}/rename")
def user_rename(
    request: Request,
    user_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    display_name: Annotated[str, Form()] = "",
) -> Response:
    """Change the account's display name."""

    def change() -> None:
        UserUpdate.model_validate({"display_name": display_name})
        rename_user(session=session, actor=actor, user_id=user_id, display_name=display_name)

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        return _user_page(request, session, actor, user_id, error=outcome, status=400)
    return _redirect(f"/admin/users/{user_id}?done=saved")


@router.post("/admin/users/{user_id}/active")
def user_active(
    request: Request,
    user_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    active: Annotated[str, Form()] = "",
) -> Response:
    """Deactivate (active=0, ending its sessions) or reactivate (active=1) the account."""
    wanted = active == "1"

    def change() -> None:
        set_user_active(
            session=session,
            actor=actor,
            user_id=user_id,
            active=wanted,
            address=client_address(request),
        )

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        return _user_page(request, session, actor, user_id, error=outcome, status=400)
    return _redirect(f"/admin/users/{user_id}?done={'reactivated' if wanted else 'deactivated'}")


@router.post("/admin/users/{user_id}/roles")
def user_grant(
    request: Request,
    user_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    role: Annotated[str, Form()] = "",
    org_id: Annotated[str, Form()] = "",
) -> Response:
    """Grant the account a role on an organisation's subtree."""

    def change() -> None:
        body = GrantCreate.model_validate({"role": role, "org_id": _optional_id(org_id)})
        assign_role(
            session=session,
            actor=actor,
            user_id=user_id,
            role=body.role,
            org_id=body.org_id,
            address=client_address(request),
        )

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        return _user_page(request, session, actor, user_id, error=outcome, status=400)
    return _redirect(f"/admin/users/{user_id}?done=granted")


@router.post("/admin/users/{user_id}/roles/{grant_id}/revoke")
def user_revoke(
    request: Request, user_id: RowId, grant_id: RowId, session: SessionDep, actor: AdminUser
) -> Response:
    """Revoke one of the account's roles."""

    def change() -> None:
        revoke_role(
            session=session,
            actor=actor,
            user_id=user_id,
            grant_id=grant_id,
            address=client_address(request),
        )

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        return _user_page(request, session, actor, user_id, error=outcome, status=400)
    return _redirect(f"/admin/users/{user_id}?done=revoked")


# Members and rosters


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
    org_filter = _optional_id(org_id)
    active = {"active": True, "inactive": False}.get(status_filter)
    if found_by_number is None:
        found = list_members(
            session=session,
            actor=actor,
            query=q[:200],
            org_id=org_filter,
            active=active,
            page=_optional_id(page) or 1,
        )
        members, pager = found.items, _pager(request, found)
    else:
        members, pager = found_by_number, None
    return _render(
        request,
        "people/members.html",
        {
            "user": actor,
            "section": "members",
            "members": members,
            "paging": pager,
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
    outcome = _attempt(
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
    return _render(
        request,
        "people/member_form.html",
        {
            "user": actor,
            "section": "members",
            "member": member,
            "values": values,
            "orgs": _choices(org_tree(session=session, actor=actor)),
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
        "org_id": _optional_id(org_id),
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

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        # The ID number is never sent back into the page.
        values = {"name": name, "org_id": org_id, "phone": phone, "joined_on": joined_on}
        return _member_form(request, session, actor, values=values, error=outcome, status=400)
    return _redirect(f"/admin/members/{outcome}?done=created")


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
    return _render(
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
    outcome = _attempt(
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

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        values = {"name": name, "org_id": org_id, "phone": phone, "joined_on": joined_on}
        return _member_form(
            request, session, actor, member_id=member_id, values=values, error=outcome, status=400
        )
    return _redirect(f"/admin/members/{member_id}?done=saved")


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

    outcome = _attempt(request, session, change)
    if isinstance(outcome, str):
        return _member_form(request, session, actor, member_id=member_id, error=outcome, status=400)
    return _redirect(
        f"/admin/members/{member_id}?done={'reactivated' if wanted else 'deactivated'}"
    )
