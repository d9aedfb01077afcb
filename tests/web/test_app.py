"""The assembled application: health, metrics, language, login, and the command line."""

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.people.models import Member, Role, User
from core.security import verify_password
from courseware.models import Course, Lesson, LessonStatus
from courseware.service import create_course
from tests.factories import csrf_token, log_in, make_tree, make_user
from web.cli import app as cli

runner = CliRunner()


def test_health(client: TestClient, home: Path) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    (home / "objects").rename(home / "objects-away")
    try:
        down = client.get("/healthz")
    finally:
        (home / "objects-away").rename(home / "objects")
    assert down.status_code == 503
    assert down.json() == {"status": "unavailable", "failed": ["storage"]}
    assert str(home) not in down.text


def test_chinese_by_default_english_on_request(client: TestClient) -> None:
    page = client.get("/login")
    assert 'lang="zh-CN"' in page.text and "登录名" in page.text
    english = client.get("/login?lang=en")
    assert 'lang="en"' in english.text and "Login" in english.text and "登录名" not in english.text
    switched = client.get("/lang/en", follow_redirects=False)
    assert switched.status_code == 303 and "lang=en" in switched.headers["set-cookie"]


def test_login_failure_logout_and_no_open_redirect(client: TestClient, session: Session) -> None:
    tree = make_tree(session)
    make_user(session, "member", Role.member, tree.branch)
    token = csrf_token(client)
    bad = client.post("/login", data={"login": "member", "password": "wrong", "csrf_token": token})
    assert bad.status_code == 401 and "登录名或密码错误" in bad.text
    forged = client.post("/login", data={"login": "member", "password": "x", "csrf_token": "no"})
    assert forged.status_code == 403
    token = log_in(client, "member")
    assert "退出" in client.get("/").text
    client.post("/logout", data={"csrf_token": token})
    assert "退出" not in client.get("/").text
    page = client.get("/login?next=//evil.example/")
    assert 'name="next" value="/"' in page.text


def test_pages_need_login_where_it_matters(client: TestClient) -> None:
    response = client.get("/upload", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/upload"
    assert client.get("/api/uploads/abc").status_code == 401


def _last_line(output: str) -> int:
    return int(output.strip().splitlines()[-1])


def test_cli_adds_orgs_users_and_members(session: Session) -> None:
    # Setting up: a top-level organisation and the first platform admin need no account.
    district = runner.invoke(cli, ["orgs", "add", "示范区委", "--kind", "district"])
    assert district.exit_code == 0, district.output
    district_id = _last_line(district.output)
    root = runner.invoke(
        cli, ["users", "add", "root", "--role", "platform_admin", "--org", str(district_id)]
    )
    assert root.exit_code == 0 and "password: " in root.output, root.output
    # From then on every command acts as an account: the first platform admin by default.
    branch = runner.invoke(
        cli, ["orgs", "add", "一支部", "--kind", "branch", "--parent", str(district_id)]
    )
    branch_id = _last_line(branch.output)
    user = runner.invoke(
        cli, ["users", "add", "lihua", "--role", "publisher", "--org", str(branch_id)]
    )
    assert user.exit_code == 0 and "password: " in user.output
    member = runner.invoke(
        cli,
        [
            "members",
            "add",
            "--org",
            str(branch_id),
            "--name",
            "王芳",
            "--id-number",
            "11010519491231002X",
        ],
    )
    assert member.exit_code == 0 and "1101**********002X" in member.output
    assert "11010519491231002X" not in member.output
    stored_user = session.get_one(User, _last_line(user.output))
    assert (
        stored_user.grants[0].role is Role.publisher and stored_user.grants[0].org_id == branch_id
    )
    assert stored_user.must_change_password
    assert session.get_one(Member, _last_line(member.output)).org_id == branch_id
    refused = runner.invoke(
        cli, ["orgs", "add", "错层", "--kind", "district", "--parent", str(branch_id)]
    )
    assert refused.exit_code == 1 and "组织的级别必须低于上级组织" in refused.output


def test_attachments_upload_and_download(
    client: TestClient, session: Session, tmp_path: Path
) -> None:
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    make_user(session, "member", Role.member, tree.branch)
    course = create_course(session=session, user=publisher, title="课", org_id=tree.town.id)
    lesson = Lesson(
        course=course, title="一", status=LessonStatus.ready, source_key="x", duration=60
    )
    session.add(lesson)
    session.commit()
    token = log_in(client, "pub")
    pdf = b"%PDF-1.4 slides"
    response = client.post(
        f"/api/lessons/{lesson.id}/attachments",
        files={"file": ("讲义.pdf", pdf, "application/pdf")},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 201, response.text
    client.post("/logout", data={"csrf_token": token})
    token = log_in(client, "member")
    page = client.get(f"/lessons/{lesson.id}").text
    assert "讲义.pdf" in page
    download = client.get(f"/media/lessons/{lesson.id}/attachments/讲义.pdf")
    assert download.status_code == 200 and download.content == pdf
    assert download.headers["content-type"] == "application/pdf"
    assert "attachment" in download.headers["content-disposition"]
    refused = client.post(
        f"/api/lessons/{lesson.id}/attachments",
        files={"file": ("x.pdf", pdf, "application/pdf")},
        headers={"X-CSRF-Token": token},
    )
    assert refused.status_code == 403


def test_demo_content_loads_once_with_generated_passwords(
    client: TestClient, session: Session
) -> None:
    from courseware import demo

    accounts = demo.load_demo(seconds=2)
    assert {(a.login, a.role) for a in accounts} == {
        ("admin", "platform_admin"),
        ("orgadmin", "org_admin"),
        ("publisher", "publisher"),
        ("member", "member"),
    }
    source = Path(demo.__file__).read_text()
    assert len({a.password for a in accounts}) == 4
    for account in accounts:
        assert len(account.password) >= 12 and account.password not in source
        user = session.scalar(select(User).where(User.login == account.login))
        assert user is not None and user.must_change_password
        assert verify_password(user.password_hash, account.password)
    member_user = session.scalar(select(User).where(User.login == "member"))
    assert member_user is not None
    linked = session.scalar(select(Member).where(Member.user_id == member_user.id))
    assert linked is not None and linked.name == "王芳"
    assert demo.load_demo(seconds=2) == []
    lessons = session.scalars(select(Lesson)).all()
    assert len(lessons) == 3 and all(lesson.status is LessonStatus.ready for lesson in lessons)
    assert sorted(lesson.credit_hours or 0 for lesson in lessons) == [0.5, 1.0, 1.0]
    assert {c.title for c in session.scalars(select(Course))} == {
        "学习贯彻党章",
        "乡村振兴实用技术",
    }
    catalog = client.get("/").text
    assert "2 个课时 · 2 学时" in catalog  # the public course, shown to anyone
    course = session.scalar(select(Course).where(Course.title == "学习贯彻党章"))
    assert course is not None
    assert client.get(f"/courses/{course.id}").text.count("1 学时") == 2


def test_nul_characters_never_reach_the_database(client: TestClient, session: Session) -> None:
    tree = make_tree(session)
    make_user(session, "pub", Role.publisher, tree.town)
    assert client.get("/api/courses", params={"q": "\x00"}).status_code == 200
    token = log_in(client, "pub")
    created = client.post(
        "/api/courses",
        json={"title": "党\x00课", "org_id": tree.town.id},
        headers={"X-CSRF-Token": token},
    )
    assert created.status_code == 201
    assert session.scalar(select(Course.title).where(Course.id == created.json()["id"])) == "党课"
    bad_login = client.post("/login", data={"login": "p\x00", "password": "x", "csrf_token": token})
    assert bad_login.status_code == 401
