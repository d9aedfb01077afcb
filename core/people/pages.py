"""HTML pages of the administration: the org tree, and accounts with their roles. Forms post
back here; a refused change shows the same page again with the reason."""

from collections.abc import Callable
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from core.api import RowId, SessionDep, verify_csrf
from core.errors import InvalidInput
from core.i18n import N_
from core.people.api import AdminUser, client_address
from core.people.forms import (
    LEVEL,
    active_choices,
    admin_page,
    grantable_roles,
    optional_id,
    pager,
    redirect,
    submit,
    switched,
)
from core.people.models import OrgKind, User
from core.people.orgs import add_org, move_org, org_tree, rename_org, set_org_active
from core.people.permissions import can_grant, can_manage_user, is_platform_admin
from core.people.schemas import GrantCreate, OrgCreate, OrgUpdate, UserCreate, UserUpdate
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

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


@router.get("/admin")
def admin_home(actor: AdminUser) -> Response:
    """The administration starts at the org tree."""
    return redirect("/admin/orgs")


# Organisations


def _orgs_page(
    request: Request, session: Session, actor: User, *, error: str | None = None, status: int = 200
) -> Response:
    return admin_page(
        request,
        "people/orgs.html",
        actor=actor,
        section="orgs",
        error=error,
        status=status,
        nodes=org_tree(session=session, actor=actor),
        kinds=list(OrgKind),
        top_level=is_platform_admin(actor),
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
    parent = optional_id(parent_id)

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

    return submit(
        request,
        session,
        change,
        done=lambda org_id: redirect(f"/admin/orgs/{org_id}?done=created"),
        again=(
            partial(_orgs_page, request, session, actor)
            if parent is None
            else partial(_org_page, request, session, actor, parent)
        ),
    )


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
    parents = [
        other
        for other in active_choices(nodes)
        if LEVEL[other.org.kind] < LEVEL[org.kind]
        and not other.org.path.startswith(org.path)
        and other.org.id != org.parent_id
    ]
    return admin_page(
        request,
        "people/org.html",
        actor=actor,
        section="orgs",
        error=error,
        status=status,
        node=next(node for node in nodes if node.org.id == org.id),
        org=org,
        parents=parents,
        may_move_to_top=is_platform_admin(actor) and org.parent_id is not None,
        child_kinds=[kind for kind in OrgKind if LEVEL[kind] > LEVEL[org.kind]],
    )


def _on_org_page(
    request: Request,
    session: Session,
    actor: User,
    org_id: int,
    change: Callable[[], object],
    notice: str,
) -> Response:
    """A change posted from an organisation's page, which shows again after it."""
    again = partial(_org_page, request, session, actor, org_id)
    return submit(request, session, change, done=f"/admin/orgs/{org_id}?done={notice}", again=again)


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

    return _on_org_page(request, session, actor, org_id, change, "renamed")


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
        if parent_id != "top" and optional_id(parent_id) is None:
            raise InvalidInput(N_("Choose where to move it."))
        move_org(
            session=session,
            actor=actor,
            org_id=org_id,
            parent_id=optional_id(parent_id),
            address=client_address(request),
        )

    return _on_org_page(request, session, actor, org_id, change, "moved")


@router.post("/admin/orgs/{org_id}/active")
def org_active(
    request: Request,
    org_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    active: Annotated[str, Form()] = "",
) -> Response:
    """Deactivate (active=0) or reactivate (active=1) the organisation with its subtree."""
    wanted, notice = switched(active)

    def change() -> None:
        set_org_active(
            session=session,
            actor=actor,
            org_id=org_id,
            active=wanted,
            address=client_address(request),
        )

    return _on_org_page(request, session, actor, org_id, change, notice)


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
    org_filter = optional_id(org_id)
    found = list_users(
        session=session,
        actor=actor,
        query=q[:200],
        org_id=org_filter,
        page=optional_id(page) or 1,
    )
    return admin_page(
        request,
        "people/users.html",
        actor=actor,
        section="users",
        accounts=found.items,
        paging=pager(request, found),
        q=q[:200],
        org_filter=org_filter,
        orgs=org_tree(session=session, actor=actor),
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
    return admin_page(
        request,
        "people/user_new.html",
        actor=actor,
        section="users",
        error=error,
        status=status,
        orgs=active_choices(org_tree(session=session, actor=actor)),
        roles=grantable_roles(actor),
        values=values or {"org_id": request.query_params.get("org_id", "")},
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
            {**values, "password": password or None, "org_id": optional_id(org_id)}
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

    def created(outcome: tuple[User, str | None]) -> Response:
        account, generated = outcome
        response = admin_page(
            request,
            "people/user_created.html",
            actor=actor,
            section="users",
            status=201,
            account=account,
            password=generated,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    return submit(
        request,
        session,
        change,
        done=created,
        again=partial(_new_user_page, request, session, actor, values=values),
    )


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
    return admin_page(
        request,
        "people/user.html",
        actor=actor,
        section="users",
        error=error,
        status=status,
        account=account,
        grants=sorted(account.grants, key=lambda g: g.id),
        revocable={g.id for g in account.grants if can_grant(actor, g.role, g.org)},
        manageable=can_manage_user(actor, account),
        orgs=active_choices(org_tree(session=session, actor=actor)),
        roles=grantable_roles(actor),
    )


def _on_user_page(
    request: Request,
    session: Session,
    actor: User,
    user_id: int,
    change: Callable[[], object],
    notice: str,
) -> Response:
    """A change posted from an account's page, which shows again after it."""
    again = partial(_user_page, request, session, actor, user_id)
    done = f"/admin/users/{user_id}?done={notice}"
    return submit(request, session, change, done=done, again=again)


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

    return _on_user_page(request, session, actor, user_id, change, "saved")


@router.post("/admin/users/{user_id}/active")
def user_active(
    request: Request,
    user_id: RowId,
    session: SessionDep,
    actor: AdminUser,
    active: Annotated[str, Form()] = "",
) -> Response:
    """Deactivate (active=0, ending its sessions) or reactivate (active=1) the account."""
    wanted, notice = switched(active)

    def change() -> None:
        set_user_active(
            session=session,
            actor=actor,
            user_id=user_id,
            active=wanted,
            address=client_address(request),
        )

    return _on_user_page(request, session, actor, user_id, change, notice)


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
        body = GrantCreate.model_validate({"role": role, "org_id": optional_id(org_id)})
        assign_role(
            session=session,
            actor=actor,
            user_id=user_id,
            role=body.role,
            org_id=body.org_id,
            address=client_address(request),
        )

    return _on_user_page(request, session, actor, user_id, change, "granted")


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

    return _on_user_page(request, session, actor, user_id, change, "revoked")
