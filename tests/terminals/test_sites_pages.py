"""The site pages as a browser without scripts uses them: render, forms that post back with the
reason of a refusal, the one-time code and password shown once, CSRF, the site admin's page."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.notify.service import notify
from core.people.models import Role, User
from terminals.reports.closing import CATEGORY
from terminals.sites.assignments import assign_content
from terminals.sites.models import Site, SiteAssignment, SiteDevice, SiteStatus
from terminals.sites.service import consume_enrolment_code
from terminals.sites.staff import grant_site_admin
from tests.factories import Tree, log_in, make_course, make_lesson, make_user
from tests.terminals.sites_data import make_site

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
FORM = {
    "name": "石桥村远教站点",
    "code": "500101001001",
    "tier": "basic",
    "build_mode": "satellite",
    "latitude": "29.5",
    "longitude": "106.5",
    "download_windows": "22:00-06:00 12:00-13:00",
    "equipment": "电视机 | TCL | 2\n机顶盒 | | 1",
    "contacts": "张三 | 13800138000 | 书记",
    "host_unit": "村委会",
    "address": "石桥村一组",
    "notes": "",
}


@pytest.fixture
def adm(session: Session, tree: Tree) -> User:
    return make_user(session, "adm", Role.org_admin, tree.town)


def test_register_a_site_from_the_form(
    client: TestClient, session: Session, tree: Tree, adm: User
) -> None:
    token = log_in(client, "adm")
    assert "站点" in client.get("/admin/sites/new").text
    bad = client.post(
        "/admin/sites",
        data={**FORM, "code": "12", "org_id": str(tree.branch.id), "csrf_token": token},
    )
    assert bad.status_code == 400 and "不是有效的行政区划代码" in bad.text
    assert 'value="石桥村远教站点"' in bad.text  # what was typed is kept
    created = client.post(
        "/admin/sites", data={**FORM, "org_id": str(tree.branch.id), "csrf_token": token}
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    code = re.search(r'id="enrolment-code">([A-Z0-9-]+)<', created.text)
    assert code is not None
    site = session.scalars(select(Site)).one()
    assert site.equipment[1] == {"item": "机顶盒", "model": "", "count": 1}
    assert consume_enrolment_code(session=session, code=code.group(1)).id == site.id
    page = client.get(f"/admin/sites/{site.id}")
    assert page.status_code == 200 and code.group(1) not in page.text  # shown once only
    listed = client.get("/admin/sites?q=石桥&tier=basic&presence=never&sort=code&desc=1")
    assert "石桥村远教站点" in listed.text
    assert "没有找到站点" in client.get("/admin/sites?status=active").text


def test_site_page_actions(client: TestClient, session: Session, tree: Tree, adm: User) -> None:
    publisher = make_user(session, "pub", Role.publisher, tree.district)
    course = make_course(session, publisher, tree.district, "党课")
    make_lesson(session, course)
    site, _ = make_site(session, adm, tree.branch.id)
    session.add(SiteDevice(site_id=site.id, token_hash="d" * 64, hostname="村委会电脑"))
    session.commit()
    token = log_in(client, "adm")
    base = f"/admin/sites/{site.id}"

    def post(path: str, **data: str) -> str:
        response = client.post(base + path, data={**data, "csrf_token": token})
        assert response.status_code in (200, 201), (path, response.status_code)
        return response.text

    assert "已审核" in post("/status", move="approve")
    assert "整门课程" in post("/assignments", content=f"c:{course.id}")
    assert (
        "请选择要分配的课程或课时"
        in client.post(base + "/assignments", data={"content": "x", "csrf_token": token}).text
    )
    created = post("/administrators", login="zhanzhang", display_name="站长", create="1")
    assert "zhanzhang" in created and 'id="new-password"' in created
    assert "已吊销" in post("/devices/revoke")
    edited = client.get(base + "/edit")
    assert edited.status_code == 200 and site.code in edited.text
    saved = client.post(
        base + "/edit",
        data={**FORM, "code": site.code, "org_id": str(tree.sibling.id), "csrf_token": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    response = client.post(
        base + "/photos", data={"csrf_token": token}, files={"file": ("a.png", PNG, "image/png")}
    )
    assert response.status_code == 200
    session.expire_all()
    name = session.get_one(Site, site.id).photos[0].rsplit("/", 1)[-1]
    photo = client.get(f"/sites/{site.id}/photos/{name}")
    assert photo.content == PNG and photo.headers["content-type"] == "image/png"
    refused = client.post(
        base + "/photos",
        data={"csrf_token": token},
        files={"file": ("a.gif", b"GIF89a", "image/gif")},
    )
    assert refused.status_code == 400 and "JPEG 或 PNG" in refused.text
    assignment = session.scalars(select(SiteAssignment)).one()
    post(f"/assignments/{assignment.id}/remove")
    post(f"/photos/{name}/remove")
    session.expire_all()
    # approved with a device enrolled already: straight to active
    assert session.get_one(Site, site.id).status is SiteStatus.active
    assert session.get_one(Site, site.id).photos == []


def test_forms_need_the_csrf_token(
    client: TestClient, session: Session, tree: Tree, adm: User
) -> None:
    site, _ = make_site(session, adm, tree.branch.id)
    log_in(client, "adm")
    for path in ("/admin/sites", f"/admin/sites/{site.id}/status", f"/admin/sites/{site.id}/code"):
        response = client.post(path, data={"move": "suspend", **FORM})
        assert response.status_code == 403, path
    session.expire_all()
    assert session.get_one(Site, site.id).status is SiteStatus.registered


def test_org_and_tier_assignments_page(
    client: TestClient, session: Session, tree: Tree, adm: User
) -> None:
    publisher = make_user(session, "pub", Role.publisher, tree.district)
    course = make_course(session, publisher, tree.district, "党课")
    token = log_in(client, "adm")
    done = client.post(
        "/admin/sites/assignments",
        data={
            "org_id": str(tree.town.id),
            "tier": "premium",
            "content": f"c:{course.id}",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = client.get("/admin/sites/assignments")
    assert "镇党委 的精品站点" in page.text
    assignment = session.scalars(select(SiteAssignment)).one()
    assert (assignment.tier, assignment.org_id) == ("premium", tree.town.id)
    refused = client.post(
        "/admin/sites/assignments",
        data={"org_id": str(tree.other.id), "content": f"c:{course.id}", "csrf_token": token},
    )
    assert refused.status_code == 403
    removed = client.post(
        f"/admin/sites/assignments/{assignment.id}/remove",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert removed.status_code == 303


def test_the_site_administrators_own_page(
    client: TestClient, session: Session, tree: Tree, adm: User
) -> None:
    publisher = make_user(session, "pub", Role.publisher, tree.district)
    course = make_course(session, publisher, tree.district, "党课")
    lesson = make_lesson(session, course, "第一课")
    lesson.renditions = [{"height": 360, "width": 640, "bandwidth": 800000}]
    site, _ = make_site(session, adm, tree.branch.id, name="石桥村站点")
    make_user(session, "runner", Role.member, tree.branch)
    grant_site_admin(session=session, actor=adm, site_id=site.id, login="runner")
    assign_content(session=session, actor=adm, site_id=site.id, course_id=course.id)
    session.commit()
    log_in(client, "runner")
    page = client.get("/site")
    assert page.status_code == 200
    for text in ("石桥村站点", "第一课", "360p", "尚未上报", "从未连接", "我的站点"):
        assert text in page.text, text
    assert "还没有关于月报卡的通知" in page.text
    runner = session.scalars(select(User).where(User.login == "runner")).one()
    notify(session=session, recipients=[runner.id], category=CATEGORY, title="石桥村站点十月未达标",
           link="/site/report?month=2026-10")  # fmt: skip
    notify(session=session, recipients=[runner.id], category="plan", title="学习计划提醒")
    session.commit()
    page = client.get("/site")
    assert "石桥村站点十月未达标" in page.text and "学习计划提醒" not in page.text
    assert client.get(f"/admin/sites/{site.id}").status_code == 403
    other = TestClient(client.app)
    log_in(other, "pub")
    assert "您不是任何站点的管理员" in other.get("/site").text
