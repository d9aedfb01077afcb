"""The sites commands: `add` prints its JSON last, every change acts as --as and is refused
outside that account's subtree with a one-line error; assign by site, subtree and tier."""

import json

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.people.models import Role
from terminals.sites.models import AssignmentTarget, Site, SiteAssignment, SiteDevice, SiteStatus
from terminals.sites.service import consume_enrolment_code, hash_code
from tests.factories import Tree, make_course, make_lesson, make_user
from web.cli import app as cli

runner = CliRunner()


def _add(*extra: str) -> object:
    args = ["sites", "add", "--code", "500101001001", "--name", "石桥村站点", *extra]
    return runner.invoke(cli, args)


def _one_line_error(output: str, text: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and text in lines[0], output


def test_add_prints_the_id_and_a_one_time_code_last(session: Session, tree: Tree) -> None:
    make_user(session, "adm", Role.org_admin, tree.town)
    result = _add("--org", str(tree.branch.id), "--tier", "基础", "--as", "adm")
    assert result.exit_code == 0, result.output
    last = json.loads(result.output.strip().splitlines()[-1])
    assert set(last) == {"id", "enrolment_code"}
    site = session.get_one(Site, last["id"])
    assert (site.tier, site.status, site.org_id) == ("basic", SiteStatus.registered, tree.branch.id)
    assert site.enrolment_code_hash == hash_code(last["enrolment_code"])
    again = _add("--org", str(tree.branch.id), "--tier", "basic", "--as", "adm")
    assert again.exit_code == 1
    _one_line_error(again.output, "已存在")

    shown = runner.invoke(cli, ["sites", "show", str(site.id), "--json", "--as", "adm"])
    assert json.loads(shown.output)["presence"] == "never"
    listed = runner.invoke(cli, ["sites", "list", "--json", "--as", "adm"])
    assert [row["code"] for row in json.loads(listed.output)] == ["500101001001"]

    issued = runner.invoke(cli, ["sites", "code", str(site.id), "--as", "adm"])
    new = json.loads(issued.output.strip().splitlines()[-1])["enrolment_code"]
    session.expire_all()
    assert consume_enrolment_code(session=session, code=new).id == site.id
    session.rollback()


def test_commands_are_refused_outside_the_subtree(session: Session, tree: Tree) -> None:
    make_user(session, "adm", Role.org_admin, tree.town)
    make_user(session, "far", Role.org_admin, tree.other)
    make_user(session, "mem", Role.member, tree.branch)
    result = _add("--org", str(tree.branch.id), "--tier", "premium", "--as", "adm")
    site_id = json.loads(result.output.strip().splitlines()[-1])["id"]

    refused = _add("--org", str(tree.branch.id), "--tier", "premium", "--as", "far")
    assert refused.exit_code == 1
    _one_line_error(refused.output, "您不是组织")
    for args in (
        ["sites", "code", str(site_id)],
        ["sites", "revoke", str(site_id)],
        ["sites", "status", str(site_id), "suspend"],
        ["sites", "show", str(site_id)],
        ["sites", "assign", str(site_id), "--course", "1"],
    ):
        result = runner.invoke(cli, [*args, "--as", "far"])
        assert result.exit_code == 1, args
        _one_line_error(result.output, f"找不到站点 {site_id}")
    member = runner.invoke(cli, ["sites", "code", str(site_id), "--as", "mem"])
    _one_line_error(member.output, f"找不到站点 {site_id}")
    unknown = _add("--org", str(tree.branch.id), "--tier", "gold", "--as", "adm")
    _one_line_error(unknown.output, "未知等级 gold")
    nobody = runner.invoke(cli, ["sites", "list", "--as", "ghost"])
    assert nobody.exit_code == 1


def test_assign_by_site_subtree_and_tier_and_unassign(session: Session, tree: Tree) -> None:
    make_user(session, "adm", Role.org_admin, tree.town)
    make_user(session, "far", Role.org_admin, tree.other)
    publisher = make_user(session, "pub", Role.publisher, tree.district)
    course = make_course(session, publisher, tree.district)
    lesson = make_lesson(session, course)
    result = _add("--org", str(tree.branch.id), "--tier", "basic", "--as", "adm")
    site_id = json.loads(result.output.strip().splitlines()[-1])["id"]

    by_site = runner.invoke(
        cli, ["sites", "assign", str(site_id), "--lesson", str(lesson.id), "--as", "adm"]
    )
    assert by_site.exit_code == 0, by_site.output
    same = runner.invoke(
        cli, ["sites", "assign", str(site_id), "--lesson", str(lesson.id), "--as", "adm"]
    )
    assert same.output == by_site.output  # stored once
    by_org = runner.invoke(
        cli,
        ["sites", "assign", "--org", str(tree.town.id), "--course", str(course.id), "--as", "adm"],
    )
    by_tier = runner.invoke(
        cli,
        [
            "sites",
            "assign",
            "--org",
            str(tree.town.id),
            "--tier",
            "精品",
            "--course",
            str(course.id),
            "--as",
            "adm",
        ],
    )
    assert by_org.exit_code == 0 and by_tier.exit_code == 0, by_tier.output
    rows = session.scalars(select(SiteAssignment).order_by(SiteAssignment.id)).all()
    assert [(r.target, r.tier) for r in rows] == [
        (AssignmentTarget.site, None),
        (AssignmentTarget.org, None),
        (AssignmentTarget.tier, "premium"),
    ]
    no_org = runner.invoke(cli, ["sites", "assign", "--tier", "basic", "--course", str(course.id)])
    _one_line_error(no_org.output, "--tier")
    both = runner.invoke(cli, ["sites", "assign", str(site_id), "--as", "adm"])
    _one_line_error(both.output, "二选一")
    far = runner.invoke(
        cli,
        ["sites", "assign", "--org", str(tree.town.id), "--course", str(course.id), "--as", "far"],
    )
    _one_line_error(far.output, "您不是组织")
    removed = runner.invoke(cli, ["sites", "unassign", by_org.output.strip(), "--as", "far"])
    assert removed.exit_code == 1
    removed = runner.invoke(cli, ["sites", "unassign", by_org.output.strip(), "--as", "adm"])
    assert removed.exit_code == 0, removed.output


def test_status_and_revoke(session: Session, tree: Tree) -> None:
    make_user(session, "adm", Role.org_admin, tree.town)
    result = _add("--org", str(tree.branch.id), "--tier", "basic", "--as", "adm")
    site_id = json.loads(result.output.strip().splitlines()[-1])["id"]
    session.add(SiteDevice(site_id=site_id, token_hash="e" * 64))
    session.commit()
    approved = runner.invoke(cli, ["sites", "status", str(site_id), "approve", "--as", "adm"])
    assert approved.output.strip() == "active"  # a device is enrolled already
    again = runner.invoke(cli, ["sites", "status", str(site_id), "approve", "--as", "adm"])
    assert again.exit_code == 1
    revoked = runner.invoke(cli, ["sites", "revoke", str(site_id), "--as", "adm"])
    assert revoked.exit_code == 0 and "1" in revoked.output
    session.expire_all()
    assert session.scalars(select(SiteDevice)).one().revoked_at is not None
