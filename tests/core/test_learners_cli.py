"""`yuanjiao members login`, `members invite` and `notices send`: acting as an account, refused
outside its subtree, secrets printed once and never stored in plain."""

import json

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.notify.models import Notice
from core.people.models import Member, MemberInvitation, Role, User
from core.people.service import add_member
from core.security import verify_password
from core.settings import get_settings
from tests.factories import id_number, make_tree, make_user
from web.cli import app as cli

runner = CliRunner()


def _members(session: Session) -> tuple[int, int, int]:
    tree = make_tree(session)
    make_user(session, "root", Role.platform_admin, tree.district)
    make_user(session, "adm", Role.org_admin, tree.general)
    make_user(session, "far", Role.org_admin, tree.other)
    key = get_settings().id_hash_key
    ids = [
        add_member(
            session=session,
            org_id=tree.branch.id,
            name=name,
            id_number=id_number(n),
            hash_key=key,
            phone=phone,
        ).id
        for n, (name, phone) in enumerate((("王芳", "13800138000"), ("张伟", ""), ("李强", "")))
    ]
    session.commit()
    return ids[0], ids[1], tree.general.id


def test_members_login_prints_the_password_once(session: Session) -> None:
    first, second, _general = _members(session)
    refused = runner.invoke(cli, ["members", "login", str(first), "--as", "far"])
    assert refused.exit_code == 1 and "不存在" in refused.output
    done = runner.invoke(cli, ["members", "login", str(first), "--as", "adm"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0] == "login: 13800138000" and lines[1].startswith("password: ")
    user = session.get(User, int(lines[-1]))
    assert user is not None and user.must_change_password and user.display_name == "王芳"
    assert verify_password(user.password_hash, lines[1].removeprefix("password: "))
    again = runner.invoke(cli, ["members", "login", str(first), "--as", "adm"])
    assert again.exit_code == 1 and len(again.output.strip().splitlines()) == 1
    chosen = runner.invoke(cli, ["members", "login", str(second), "--login", "zhangwei"])
    assert chosen.exit_code == 0 and chosen.output.startswith("login: zhangwei")
    bad = runner.invoke(cli, ["members", "login", "999999", "--as", "adm"])
    assert bad.exit_code == 1


def test_members_invite_one_or_a_branch(session: Session) -> None:
    first, _second, general = _members(session)
    one = runner.invoke(cli, ["members", "invite", str(first), "--as", "adm", "--json"])
    assert one.exit_code == 0, one.output
    [row] = json.loads(one.output)
    assert row["name"] == "王芳" and len(row["code"]) == 14
    batch = runner.invoke(cli, ["members", "invite", "--org", str(general), "--as", "adm"])
    assert batch.exit_code == 0 and len(batch.output.splitlines()) == 3
    codes = [line.split("\t")[4] for line in batch.output.splitlines()]
    stored = set(session.scalars(select(MemberInvitation.code_hash)))
    assert not any(code.replace("-", "") in hashed for code in codes for hashed in stored)
    assert (
        runner.invoke(cli, ["members", "invite", "--org", str(general), "--as", "far"]).exit_code
        == 1
    )
    neither = runner.invoke(cli, ["members", "invite", "--as", "adm"])
    assert neither.exit_code == 1 and "--org" in neither.output
    assert session.scalar(select(Member.user_id).where(Member.id == first)) is None


def test_notices_send(session: Session) -> None:
    _members(session)
    sent = runner.invoke(
        cli, ["notices", "send", "--to", "adm", "--title", "测试通知", "--link", "/me"]
    )
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.output) == [
        {
            "notice_id": json.loads(sent.output)[0]["notice_id"],
            "channel": "in_app",
            "status": "delivered",
            "error": None,
        }
    ]
    assert session.scalar(select(Notice.title)) == "测试通知"
    far = runner.invoke(cli, ["notices", "send", "--to", "adm", "--title", "x", "--as", "far"])
    assert far.exit_code == 1
    bad = runner.invoke(
        cli, ["notices", "send", "--to", "adm", "--title", "x", "--link", "http://x"]
    )
    assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1
