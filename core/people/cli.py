"""Command line for organisations, users and members. Each command acts as an account (--as
LOGIN, or the first platform admin) and reaches what that account reaches on the pages; `add`
prints the new id last. Until the database has a platform admin, a top-level organisation and
the first platform admin can be added without one (that is how a platform is set up)."""

import json
import secrets
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit.service import record
from core.cli import acting_user, fail, say
from core.db import session_scope
from core.errors import InvalidInput, PlatformError
from core.i18n import N_
from core.paging import Page
from core.people.invitations import issue_branch_invitations, issue_invitation
from core.people.logins import create_member_login
from core.people.members import list_members, register_member
from core.people.models import Member, OrgKind, Role, RoleGrant, User
from core.people.orgs import add_org, org_tree
from core.people.service import create_org, create_user, grant_role
from core.people.users import add_user, list_users
from core.settings import get_settings

orgs = typer.Typer(help="Organisations (the org tree).", no_args_is_help=True)
users = typer.Typer(help="Login accounts and their roles.", no_args_is_help=True)
members = typer.Typer(help="Party members.", no_args_is_help=True)

AsOption = Annotated[
    str | None,
    typer.Option("--as", help="act as this login (default: the first platform admin)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]
# Lists print everything they match, a page of this many rows at a time.
_CHUNK = 200
T = TypeVar("T")


def _has_platform_admin(session: Session) -> bool:
    holders = (
        select(func.count())
        .select_from(RoleGrant)
        .join(User, User.id == RoleGrant.user_id)
        .where(RoleGrant.role == Role.platform_admin, User.active)
    )
    return bool(session.scalar(holders))


def _setting_up(as_login: str | None) -> bool:
    """Whether the command runs before any platform admin exists (and names no account)."""
    if as_login is not None:
        return False
    with session_scope() as session:
        return not _has_platform_admin(session)


def _every_row(
    as_login: str | None,
    list_page: Callable[..., Page[T]],
    shown: Callable[[T], dict[str, Any]],
    **filters: Any,
) -> list[dict[str, Any]]:
    """Every row a paged list gives the acting account, fetched `_CHUNK` at a time and shown
    as `shown` makes it."""
    try:
        actor = acting_user(as_login)
        rows: list[dict[str, Any]] = []
        with session_scope() as session:
            page = 1
            while True:
                found = list_page(
                    session=session, actor=actor, page=page, per_page=_CHUNK, **filters
                )
                rows += [shown(item) for item in found.items]
                if page >= found.pages:
                    return rows
                page += 1
    except PlatformError as exc:
        raise fail(exc) from exc


def _print_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    for row in rows:
        typer.echo("\t".join("" if row[c] is None else str(row[c]) for c in columns))


@orgs.command("add")
def orgs_add(
    name: str,
    kind: Annotated[OrgKind, typer.Option(help="district, committee, general_branch or branch")],
    parent: Annotated[int | None, typer.Option(help="id of the parent organisation")] = None,
    as_login: AsOption = None,
) -> None:
    """Add an organisation to the tree."""
    try:
        if parent is None and _setting_up(as_login):
            with session_scope() as session:
                org = create_org(session=session, name=name, kind=kind)
                record(
                    session=session,
                    action="org_created",
                    actor_login="(setup)",
                    target_type="organisation",
                    target_id=org.id,
                    org_id=org.id,
                    detail={"name": org.name, "kind": kind.value, "parent_id": None},
                )
                org_id = org.id
        else:
            actor = acting_user(as_login)
            with session_scope() as session:
                org_id = add_org(
                    session=session, actor=actor, name=name, kind=kind, parent_id=parent
                ).id
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(org_id)


@orgs.command("list")
def orgs_list(as_login: AsOption = None, as_json: JsonOption = False) -> None:
    """The organisations the account manages, as a tree with member and account counts."""
    try:
        actor = acting_user(as_login)
        with session_scope() as session:
            rows: list[dict[str, Any]] = [
                {
                    "id": node.org.id,
                    "name": node.org.name,
                    "kind": node.org.kind.value,
                    "parent_id": node.org.parent_id,
                    "depth": node.depth,
                    "active": node.org.active,
                    "members": node.members,
                    "users": node.users,
                }
                for node in org_tree(session=session, actor=actor)
            ]
    except PlatformError as exc:
        raise fail(exc) from exc
    if as_json:
        _print_rows(rows, [], as_json=True)
        return
    inactive = say("(deactivated)")
    for row in rows:
        typer.echo(
            f"{row['id']}\t{'  ' * row['depth']}{row['name']}\t{row['kind']}\t"
            f"{row['members']}\t{row['users']}" + ("" if row["active"] else f"\t{inactive}")
        )


@users.command("add")
def users_add(
    login: str,
    role: Annotated[Role, typer.Option(help="platform_admin, org_admin, publisher or member")],
    org: Annotated[int, typer.Option(help="organisation the role is granted on")],
    password: Annotated[
        str | None, typer.Option(envvar="YUANJIAO_NEW_PASSWORD", help="generated when omitted")
    ] = None,
    name: Annotated[str, typer.Option(help="display name")] = "",
    as_login: AsOption = None,
) -> None:
    """Add a login account with a role on an organisation (and its subtree). A generated
    password is printed once and must be changed at the first login."""
    try:
        if role is Role.platform_admin and _setting_up(as_login):
            chosen = password or secrets.token_urlsafe(12)
            with session_scope() as session:
                user = create_user(session=session, login=login, password=chosen, display_name=name)
                user.must_change_password = password is None
                grant_role(session=session, user=user, role=role, org_id=org)
                record(
                    session=session,
                    action="user_created",
                    actor_login="(setup)",
                    target_type="user",
                    target_id=user.id,
                    org_id=org,
                    detail={"login": user.login, "role": role.value},
                )
                user_id = user.id
            generated = chosen if password is None else None
        else:
            actor = acting_user(as_login)
            with session_scope() as session:
                user, generated = add_user(
                    session=session,
                    actor=actor,
                    login=login,
                    role=role,
                    org_id=org,
                    display_name=name,
                    password=password,
                )
                user_id = user.id
    except PlatformError as exc:
        raise fail(exc) from exc
    if generated:
        typer.echo(f"password: {generated}")
    typer.echo(user_id)


@users.command("list")
def users_list(
    query: Annotated[str, typer.Option("--query", "-q", help="part of a login or name")] = "",
    org: Annotated[int | None, typer.Option(help="only accounts with a role below it")] = None,
    as_login: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """The accounts the account reaches, with their roles."""
    rows = _every_row(as_login, list_users, _user_row, query=query, org_id=org)
    if as_json:
        _print_rows(rows, [], as_json=True)
        return
    for row in rows:
        roles = ",".join(f"{r['role']}@{r['org_id']}" for r in row["roles"])
        typer.echo(f"{row['id']}\t{row['login']}\t{row['display_name']}\t{row['active']}\t{roles}")


@members.command("add")
def members_add(
    org: Annotated[int, typer.Option(help="the member's organisation")],
    name: Annotated[str, typer.Option()],
    id_number: Annotated[str, typer.Option(help="18-character citizen ID number")],
    as_login: AsOption = None,
) -> None:
    """Register a party member (the ID number is stored keyed-hashed and shown masked)."""
    try:
        actor = acting_user(as_login)
        with session_scope() as session:
            member = register_member(
                session=session,
                actor=actor,
                org_id=org,
                name=name,
                id_number=id_number,
                hash_key=get_settings().id_hash_key,
            )
            member_id, masked = member.id, member.id_number_masked
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(f"{name} {masked}")
    typer.echo(member_id)


@members.command("list")
def members_list(
    query: Annotated[str, typer.Option("--query", "-q", help="part of a name")] = "",
    org: Annotated[int | None, typer.Option(help="only members in this subtree")] = None,
    as_login: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """The members the account manages, ID numbers masked."""
    rows = _every_row(as_login, list_members, _member_row, query=query, org_id=org)
    columns = ["id", "name", "id_number_masked", "org_id", "phone", "joined_on", "active"]
    _print_rows(rows, columns, as_json)


def _user_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "login": user.login,
        "display_name": user.display_name,
        "active": user.active,
        "roles": [
            {"role": g.role.value, "org_id": g.org_id}
            for g in sorted(user.grants, key=lambda g: g.id)
        ],
    }


def _member_row(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "name": member.name,
        "id_number_masked": member.id_number_masked,
        "org_id": member.org_id,
        "phone": member.phone,
        "joined_on": member.joined_on.isoformat() if member.joined_on else None,
        "active": member.active,
    }


@members.command("login")
def members_login(
    member_id: Annotated[int, typer.Argument(help="the member's id")],
    login: Annotated[
        str | None, typer.Option(help="default: their mobile number, or m<id>")
    ] = None,
    as_login: AsOption = None,
) -> None:
    """Give a member a login of their own (role member on their organisation). The generated
    password is printed once and must be changed at the first login; the new account's id is
    printed last."""
    try:
        actor = acting_user(as_login)
        with session_scope() as session:
            user, password = create_member_login(
                session=session, actor=actor, member_id=member_id, login=login
            )
            user_id, chosen = user.id, user.login
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(f"login: {chosen}")
    typer.echo(f"password: {password}")
    typer.echo(user_id)


@members.command("invite")
def members_invite(
    member_id: Annotated[int | None, typer.Argument(help="one member's id")] = None,
    org: Annotated[
        int | None, typer.Option(help="every member without a login in this subtree")
    ] = None,
    as_login: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issue invitation codes (shown only now): for one member, or with --org for every active
    member of that subtree who has no login yet. Members activate them at /activate."""
    if (member_id is None) == (org is None):
        raise fail(InvalidInput(N_("Give a member id or --org, not both.")))
    try:
        actor = acting_user(as_login)
        with session_scope() as session:
            if member_id is not None:
                codes = [issue_invitation(session=session, actor=actor, member_id=member_id)]
            else:
                assert org is not None
                codes = issue_branch_invitations(session=session, actor=actor, org_id=org)
    except PlatformError as exc:
        raise fail(exc) from exc
    rows = [
        {
            "member_id": c.member_id,
            "name": c.name,
            "org_name": c.org_name,
            "id_number_masked": c.id_number_masked,
            "code": c.code,
            "expires_at": c.expires_at.isoformat(),
        }
        for c in codes
    ]
    columns = ["member_id", "name", "org_name", "id_number_masked", "code", "expires_at"]
    _print_rows(rows, columns, as_json)
