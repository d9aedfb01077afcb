"""Command line for terminal sites: register one (printing its first enrolment code), list and
show them, assign content, issue a new code, move a site along its life, revoke its devices.
Every command that changes data acts as --as LOGIN (default: the first platform admin) and is
refused outside that account's subtrees, exactly like the pages."""

import json
from typing import Annotated, Any

import typer

from core.cli import acting_user, fail, say
from core.db import session_scope
from core.errors import InvalidInput, PlatformError
from core.i18n import N_
from core.people.models import User
from terminals.sites.assignments import assign_content, unassign
from terminals.sites.models import Site, SiteStatus
from terminals.sites.presence import Presence, presence_of
from terminals.sites.service import (
    SiteDetails,
    SiteFilter,
    Transition,
    change_status,
    get_visible_site,
    issue_enrolment_code,
    last_contacts,
    list_sites,
    register_site_with_code,
    revoke_devices,
)

sites = typer.Typer(help="Terminal sites (终端站点).", no_args_is_help=True)

AsOption = Annotated[
    str | None,
    typer.Option("--as", help="act as this login (default: the first platform admin)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def site_summary(site: Site, last_seen: Any) -> dict[str, Any]:
    """A site as the CLI prints it."""
    return {
        "id": site.id,
        "code": site.code,
        "name": site.name,
        "org_id": site.org_id,
        "org": site.org.name,
        "tier": site.tier,
        "status": site.status.value,
        "host_unit": site.host_unit,
        "address": site.address,
        "latitude": site.latitude,
        "longitude": site.longitude,
        "build_mode": site.build_mode.value,
        "download_windows": site.download_windows,
        "administrators": [admin.user.login for admin in site.administrators],
        "presence": presence_of(last_seen).value,
        "last_seen_at": last_seen.isoformat() if last_seen else None,
    }


def _acting(as_login: str | None) -> User:
    return acting_user(as_login)


@sites.command("add")
def sites_add(
    org: Annotated[int, typer.Option(help="owning organisation's id")],
    code: Annotated[str, typer.Option(help="administrative code (12 digits)")],
    name: Annotated[str, typer.Option(help="site name")],
    tier: Annotated[str, typer.Option(help="tier key or label: premium / 精品, ...")],
    host_unit: Annotated[str, typer.Option(help="host unit")] = "",
    address: Annotated[str, typer.Option(help="street address")] = "",
    as_login: AsOption = None,
) -> None:
    """Register a site; prints as its last line {"id", "enrolment_code"} (the code works once)."""
    try:
        actor = _acting(as_login)
        with session_scope() as session:
            site, enrolment_code = register_site_with_code(
                session=session,
                actor=actor,
                org_id=org,
                code=code,
                tier=tier,
                details=SiteDetails(name=name, host_unit=host_unit, address=address),
            )
            site_id = site.id
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(json.dumps({"id": site_id, "enrolment_code": enrolment_code}))


@sites.command("list")
def sites_list(
    q: Annotated[str, typer.Option(help="search in name or code")] = "",
    status: Annotated[SiteStatus | None, typer.Option(help="only in this state")] = None,
    presence: Annotated[Presence | None, typer.Option(help="online / offline / never")] = None,
    as_login: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """The sites the account sees, by name."""
    rows: list[dict[str, Any]] = []
    try:
        actor = _acting(as_login)
        with session_scope() as session:
            page = 1
            while True:
                found, seen = list_sites(
                    session=session,
                    actor=actor,
                    where=SiteFilter(query=q, status=status, presence=presence),
                    page=page,
                    per_page=200,
                )
                rows += [site_summary(site, seen[site.id]) for site in found.items]
                if page >= found.pages:
                    break
                page += 1
    except PlatformError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        typer.echo(
            f"{row['id']:>6}  {row['code']}  {row['status']:<10} {row['tier']:<13} "
            f"{row['presence']:<7} {row['name']} · {row['org']}"
        )


@sites.command("show")
def sites_show(site_id: int, as_login: AsOption = None, as_json: JsonOption = False) -> None:
    """One site's record."""
    try:
        actor = _acting(as_login)
        with session_scope() as session:
            site = get_visible_site(session=session, actor=actor, site_id=site_id)
            summary = site_summary(
                site, last_contacts(session=session, site_ids=[site.id])[site.id]
            )
    except PlatformError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    for key, value in summary.items():
        typer.echo(f"{key}: {value}")


@sites.command("assign")
def sites_assign(
    site_id: Annotated[int | None, typer.Argument(help="the site (or use --org)")] = None,
    lesson: Annotated[int | None, typer.Option(help="assign this lesson")] = None,
    course: Annotated[int | None, typer.Option(help="assign this whole course")] = None,
    org: Annotated[int | None, typer.Option(help="to every site of this org's subtree")] = None,
    tier: Annotated[str | None, typer.Option(help="with --org: only sites of this tier")] = None,
    as_login: AsOption = None,
) -> None:
    """Assign a lesson or a course to a site, to an org's subtree, or to a tier within it;
    prints the assignment's id (the existing one when it was assigned already)."""
    try:
        if tier is not None and org is None:
            raise InvalidInput(N_("--tier needs --org: the tier's sites within which subtree?"))
        actor = _acting(as_login)
        with session_scope() as session:
            assignment = assign_content(
                session=session,
                actor=actor,
                site_id=site_id,
                org_id=org,
                tier=tier,
                lesson_id=lesson,
                course_id=course,
            )
            assignment_id = assignment.id
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(assignment_id)


@sites.command("unassign")
def sites_unassign(assignment_id: int, as_login: AsOption = None) -> None:
    """End an assignment (agents purge its content at their next sync)."""
    try:
        actor = _acting(as_login)
        with session_scope() as session:
            unassign(session=session, actor=actor, assignment_id=assignment_id)
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(say("Assignment %(id)s removed.", id=assignment_id))


@sites.command("code")
def sites_code(site_id: int, as_login: AsOption = None) -> None:
    """Issue a new one-time enrolment code (the earlier one stops working); prints JSON."""
    try:
        actor = _acting(as_login)
        with session_scope() as session:
            site, enrolment_code = issue_enrolment_code(
                session=session, actor=actor, site_id=site_id
            )
            expires = site.enrolment_code_expires_at
    except PlatformError as exc:
        raise fail(exc) from exc
    assert expires is not None
    body = {"id": site_id, "enrolment_code": enrolment_code, "expires_at": expires.isoformat()}
    typer.echo(json.dumps(body))


@sites.command("status")
def sites_status(site_id: int, move: Transition, as_login: AsOption = None) -> None:
    """Approve, activate, suspend or resume a site."""
    try:
        actor = _acting(as_login)
        with session_scope() as session:
            status = change_status(session=session, actor=actor, site_id=site_id, move=move).status
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(status.value)


@sites.command("revoke")
def sites_revoke(site_id: int, as_login: AsOption = None) -> None:
    """Revoke every device of the site: their tokens stop working at once."""
    try:
        actor = _acting(as_login)
        with session_scope() as session:
            count = revoke_devices(session=session, actor=actor, site_id=site_id)
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(say("%(count)s devices revoked.", count=count))
