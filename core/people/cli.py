"""Command line for organisations, users and members; each `add` prints the new id last."""

import secrets
from typing import Annotated

import typer

from core.cli import fail
from core.db import session_scope
from core.errors import PlatformError
from core.people.models import OrgKind, Role
from core.people.service import add_member, create_org, create_user, grant_role
from core.settings import get_settings

orgs = typer.Typer(help="Organisations (the org tree).", no_args_is_help=True)
users = typer.Typer(help="Login accounts and their roles.", no_args_is_help=True)
members = typer.Typer(help="Party members.", no_args_is_help=True)


@orgs.command("add")
def orgs_add(
    name: str,
    kind: Annotated[OrgKind, typer.Option(help="district, committee, general_branch or branch")],
    parent: Annotated[int | None, typer.Option(help="id of the parent organisation")] = None,
) -> None:
    """Add an organisation to the tree."""
    try:
        with session_scope() as session:
            org_id = create_org(session=session, name=name, kind=kind, parent_id=parent).id
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(org_id)


@users.command("add")
def users_add(
    login: str,
    role: Annotated[Role, typer.Option(help="platform_admin, org_admin, publisher or member")],
    org: Annotated[int, typer.Option(help="organisation the role is granted on")],
    password: Annotated[
        str | None, typer.Option(envvar="YUANJIAO_NEW_PASSWORD", help="generated when omitted")
    ] = None,
    name: Annotated[str, typer.Option(help="display name")] = "",
) -> None:
    """Add a login account with a role on an organisation (and its subtree)."""
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        with session_scope() as session:
            user = create_user(session=session, login=login, password=password, display_name=name)
            grant_role(session=session, user=user, role=role, org_id=org)
            user_id = user.id
    except PlatformError as exc:
        raise fail(exc) from exc
    if generated:
        typer.echo(f"password: {password}")
    typer.echo(user_id)


@members.command("add")
def members_add(
    org: Annotated[int, typer.Option(help="the member's organisation")],
    name: Annotated[str, typer.Option()],
    id_number: Annotated[str, typer.Option(help="18-character citizen ID number")],
) -> None:
    """Register a party member (the ID number is stored keyed-hashed and shown masked)."""
    try:
        with session_scope() as session:
            member = add_member(
                session=session,
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
