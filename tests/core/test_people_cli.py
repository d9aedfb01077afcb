"""The people commands: lists (text and JSON), acting as an account, and setting up."""

import json

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.audit.models import AuditEntry
from core.people.models import Role
from core.people.service import add_member
from core.settings import get_settings
from tests.factories import id_number, make_tree, make_user
from web.cli import app as cli

runner = CliRunner()


def test_lists_show_what_the_account_reaches(session: Session) -> None:
    tree = make_tree(session)
    make_user(session, "root", Role.platform_admin, tree.district)
    make_user(session, "adm", Role.org_admin, tree.general)
    make_user(session, "mem", Role.member, tree.branch)
    make_user(session, "far", Role.member, tree.other)
    key = get_settings().id_hash_key
    add_member(
        session=session, org_id=tree.branch.id, name="王芳", id_number=id_number(1), hash_key=key
    )
    add_member(
        session=session, org_id=tree.other.id, name="外人", id_number=id_number(2), hash_key=key
    )
    session.commit()

    orgs = runner.invoke(cli, ["orgs", "list", "--as", "adm", "--json"])
    assert orgs.exit_code == 0, orgs.output
    listed = json.loads(orgs.output)
    assert [(o["name"], o["depth"], o["members"]) for o in listed] == [
        ("村党总支", 0, 1),
        ("第一支部", 1, 1),
        ("第二支部", 1, 0),
    ]
    text = runner.invoke(cli, ["orgs", "list"]).output.splitlines()  # as the first root
    assert len(text) == 6 and text[0].split("\t")[1] == "区委"

    users = json.loads(runner.invoke(cli, ["users", "list", "--as", "adm", "--json"]).output)
    assert [u["login"] for u in users] == ["adm", "mem"]
    assert users[1]["roles"] == [{"role": "member", "org_id": tree.branch.id}]
    found = runner.invoke(cli, ["users", "list", "-q", "FA"]).output.splitlines()
    assert len(found) == 1 and found[0].split("\t")[1] == "far"

    members = runner.invoke(cli, ["members", "list", "--as", "adm", "--json"])
    shown = json.loads(members.output)
    assert [m["name"] for m in shown] == ["王芳"] and id_number(1) not in members.output
    assert shown[0]["id_number_masked"].startswith("1101****")
    everyone = runner.invoke(cli, ["members", "list", "--org", str(tree.other.id)]).output
    assert "外人" in everyone and "王芳" not in everyone


def test_commands_are_refused_outside_the_accounts_subtree(session: Session) -> None:
    tree = make_tree(session)
    make_user(session, "root", Role.platform_admin, tree.district)
    make_user(session, "adm", Role.org_admin, tree.general)
    refused = [
        ["orgs", "add", "外支部", "--kind", "branch", "--parent", str(tree.town.id), "--as", "adm"],
        ["users", "add", "x", "--role", "member", "--org", str(tree.other.id), "--as", "adm"],
        [
            "users",
            "add",
            "y",
            "--role",
            "platform_admin",
            "--org",
            str(tree.branch.id),
            "--as",
            "adm",
        ],
        [
            "members",
            "add",
            "--org",
            str(tree.other.id),
            "--name",
            "王",
            "--id-number",
            id_number(1),
            "--as",
            "adm",
        ],
        ["orgs", "list", "--as", "nobody"],
        ["members", "list", "--org", str(tree.other.id), "--as", "adm"],
    ]
    for command in refused:
        result = runner.invoke(cli, command)
        assert result.exit_code == 1, (command, result.output)
        assert "Traceback" not in result.output
    allowed = runner.invoke(
        cli,
        [
            "orgs",
            "add",
            "新支部",
            "--kind",
            "branch",
            "--parent",
            str(tree.general.id),
            "--as",
            "adm",
        ],
    )
    assert allowed.exit_code == 0 and allowed.output.strip().splitlines()[-1].isdigit()
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.actor_login) == ("org_created", "adm")


def test_setting_up_works_only_before_the_first_platform_admin(session: Session) -> None:
    tree = make_tree(session)
    # No platform admin yet: the first one is added without an account to act as.
    first = runner.invoke(
        cli, ["users", "add", "root", "--role", "platform_admin", "--org", str(tree.district.id)]
    )
    assert first.exit_code == 0 and "password: " in first.output
    # Now there is one: a second platform admin is added by (and recorded as) the first.
    second = runner.invoke(
        cli, ["users", "add", "root2", "--role", "platform_admin", "--org", str(tree.district.id)]
    )
    assert second.exit_code == 0
    actors = [e.actor_login for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actors == ["(setup)", "root", "root"]  # user_created; then user_created + role_granted
    # A member account cannot add anything.
    make_user(session, "mem", Role.member, tree.branch)
    refused = runner.invoke(cli, ["orgs", "add", "顶级", "--kind", "district", "--as", "mem"])
    assert refused.exit_code == 1
