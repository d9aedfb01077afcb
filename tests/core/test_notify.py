"""The notifier against real servers on loopback: an SMTP server (aiosmtpd) and a small HTTP
server standing in for the SMS gateway. Deliveries run as jobs; a failing channel is retried and
its failures recorded; recipients without an address skip the channel."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.errors import InvalidInput
from core.jobs import execute_job
from core.jobs.models import Job, JobStatus
from core.notify.models import Delivery, DeliveryStatus, Notice
from core.notify.service import mark_all_read, notify, unread_count
from core.people.models import Member, Organisation, Role, User
from core.settings import Settings, get_settings
from tests.factories import Tree, log_in, make_tree, make_user
from tests.s3 import free_port


@dataclass
class MailBox:
    """What the SMTP server received, and how many answers it still refuses with 451."""

    messages: list[tuple[list[str], bytes]] = field(default_factory=list)
    refuse: int = 0
    reject: bool = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.reject:
            return "554 Message refused for policy reasons"
        if self.refuse > 0:
            self.refuse -= 1
            return "451 Try again later"
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@dataclass
class Gateway:
    """What the SMS gateway received, and the statuses it answers with first."""

    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailBox]:
    box = MailBox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings = get_settings()
    for name, value in {
        "email_enabled": True,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_tls": "none",
        "smtp_from": "远教 <noreply@yuanjiao.test>",
    }.items():
        monkeypatch.setattr(settings, name, value)
    yield box
    controller.stop()


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    received = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            received.requests.append((dict(self.headers), body))
            status = received.answers.pop(0) if received.answers else 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"id": "gw-1"}' if status == 200 else b'{"error": "busy"}')

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = get_settings()
    monkeypatch.setattr(settings, "sms_enabled", True)
    monkeypatch.setattr(settings, "sms_url", f"http://127.0.0.1:{server.server_port}/send")
    monkeypatch.setattr(settings, "sms_token", "gateway-token-1")
    yield received
    server.shutdown()
    server.server_close()


@pytest.fixture
def people(session: Session) -> dict[str, User]:
    """A member with e-mail and phone, one with neither, and an admin."""
    tree: Tree = make_tree(session)
    reachable = make_user(session, "wangfang", Role.member, tree.branch)
    reachable.email = "wangfang@example.cn"
    session.add(
        Member(
            org_id=tree.branch.id,
            name="王芳",
            id_number_hash="a" * 64,
            id_number_masked="1101**********0012",
            phone="13800138000",
            user_id=reachable.id,
        )
    )
    silent = make_user(session, "silent", Role.member, tree.branch)
    session.commit()
    return {"reachable": reachable, "silent": silent}


def _run_jobs(session: Session) -> list[JobStatus]:
    """Run every due job once (as a worker would), making retries due at once."""
    session.execute(update(Job).values(not_before=None))
    session.commit()
    statuses = []
    for job_id in session.scalars(select(Job.id).where(Job.status == JobStatus.queued)).all():
        statuses.append(execute_job(job_id).status)
    session.expire_all()
    return statuses


def _deliveries(session: Session) -> dict[tuple[str, str], Delivery]:
    rows = session.execute(
        select(User.login, Delivery)
        .select_from(Delivery)
        .join(Notice, Notice.id == Delivery.notice_id)
        .join(User, User.id == Notice.user_id)
    ).all()
    return {(login, d.channel): d for login, d in rows}


def test_notices_go_out_by_email_and_sms(
    session: Session, people: dict[str, User], mailbox: MailBox, gateway: Gateway
) -> None:
    notices = notify(
        session=session,
        recipients=[people["reachable"], people["silent"].id, people["reachable"]],
        category="study_plan",
        title="学习提醒：党史第一课",
        body="请在本月 25 日前完成学习。",
        link="/lessons/1",
    )
    session.commit()
    assert len(notices) == 2  # each recipient once
    found = _deliveries(session)
    assert found["wangfang", "in_app"].status is DeliveryStatus.delivered
    assert found["wangfang", "email"].status is DeliveryStatus.pending
    assert found["silent", "email"].status is DeliveryStatus.skipped
    assert found["silent", "sms"].error == "no address for this channel"
    assert not mailbox.messages and not gateway.requests  # nothing is sent inside notify

    assert _run_jobs(session) == [JobStatus.done, JobStatus.done]
    [(recipients, raw)] = mailbox.messages
    mail = message_from_bytes(raw)
    assert recipients == ["wangfang@example.cn"]
    assert str(make_header(decode_header(mail["Subject"]))) == "学习提醒：党史第一课"
    text = mail.get_payload(decode=True).decode()
    assert "请在本月 25 日前完成学习。" in text and "http://127.0.0.1:8000/lessons/1" in text
    [(headers, body)] = gateway.requests
    assert headers["Authorization"] == "Bearer gateway-token-1"
    assert body["to"] == "13800138000" and body["category"] == "study_plan"
    assert body["text"].startswith("学习提醒：党史第一课") and body["reference"]
    assert headers["Idempotency-Key"] == body["reference"]
    found = _deliveries(session)
    assert found["wangfang", "email"].status is DeliveryStatus.delivered
    assert found["wangfang", "sms"].attempts == 1 and found["wangfang", "sms"].delivered_at


def test_a_failing_channel_is_retried_and_its_failures_recorded(
    session: Session, people: dict[str, User], mailbox: MailBox, gateway: Gateway
) -> None:
    mailbox.refuse = 2
    gateway.answers = [503, 429]
    notify(session=session, recipients=[people["reachable"]], category="c", title="重试")
    session.commit()
    assert _run_jobs(session) == [JobStatus.queued, JobStatus.queued]
    email = _deliveries(session)["wangfang", "email"]
    assert email.status is DeliveryStatus.pending and email.attempts == 1
    assert "451" in (email.error or "")
    assert _run_jobs(session) == [JobStatus.queued, JobStatus.queued]
    assert _run_jobs(session) == [JobStatus.done, JobStatus.done]
    found = _deliveries(session)
    assert found["wangfang", "email"].status is DeliveryStatus.delivered
    assert found["wangfang", "email"].attempts == 3 and found["wangfang", "email"].error is None
    assert found["wangfang", "sms"].attempts == 3
    assert len(mailbox.messages) == 1 and len(gateway.requests) == 3
    references = {body["reference"] for _headers, body in gateway.requests}
    assert len(references) == 1  # a retry is the same message to the gateway


def test_a_refusal_fails_at_once_and_a_dead_server_after_the_attempts(
    session: Session,
    people: dict[str, User],
    mailbox: MailBox,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mailbox.reject = True
    gateway.answers = [400]
    notify(session=session, recipients=[people["reachable"]], category="c", title="拒收")
    session.commit()
    assert _run_jobs(session) == [JobStatus.failed, JobStatus.failed]
    found = _deliveries(session)
    assert found["wangfang", "email"].status is DeliveryStatus.failed
    assert "554" in (found["wangfang", "email"].error or "")
    assert found["wangfang", "sms"].status is DeliveryStatus.failed

    monkeypatch.setattr(get_settings(), "smtp_port", free_port())  # nobody listens there
    monkeypatch.setattr(get_settings(), "sms_enabled", False)
    notify(session=session, recipients=[people["reachable"]], category="c", title="无人")
    session.commit()
    attempts = get_settings().notify_max_attempts
    for _ in range(attempts):
        _run_jobs(session)
    failed = session.scalars(
        select(Delivery).join(Notice).where(Notice.title == "无人", Delivery.channel == "email")
    ).one()
    assert failed.status is DeliveryStatus.failed and failed.attempts == attempts
    assert "could not be reached" in (failed.error or "")


def test_channels_are_off_by_default_and_input_is_checked(
    session: Session, people: dict[str, User]
) -> None:
    defaults = Settings.model_fields
    assert defaults["email_enabled"].default is False and defaults["sms_enabled"].default is False
    notify(session=session, recipients=[people["reachable"]], category="c", title="只在站内")
    session.commit()
    assert [d.channel for d in session.scalars(select(Delivery))] == ["in_app"]
    assert session.scalar(select(Job.id)) is None
    for bad in ({"title": " "}, {"link": "https://evil.example/"}, {"link": "//evil"}):
        with pytest.raises(InvalidInput):
            notify(
                session=session,
                recipients=[people["reachable"]],
                category="c",
                **{"title": "t", **bad},
            )
    assert unread_count(session=session, user=people["reachable"]) == 1
    assert mark_all_read(session=session, user=people["reachable"]) == 1
    assert unread_count(session=session, user=people["reachable"]) == 0


def test_notices_pages_and_api(
    client: TestClient, session: Session, people: dict[str, User]
) -> None:
    first, second = (
        notify(session=session, recipients=[people["reachable"]], category="c", title=t, link=link)
        for t, link in (("第一条", "/me"), ("第二条", ""))
    )
    other = notify(session=session, recipients=[people["silent"]], category="c", title="别人的")
    session.commit()
    token = log_in(client, "wangfang")
    assert client.get("/api/notices/unread").json() == {"unread": 2}
    listed = client.get("/api/notices").json()
    assert [n["title"] for n in listed["items"]] == ["第二条", "第一条"] and listed["unread"] == 2
    assert listed["items"][1]["deliveries"][0]["channel"] == "in_app"
    assert client.get(f"/api/notices/{other[0].id}").status_code == 404
    assert (
        client.post(f"/api/notices/{other[0].id}/read", headers={"X-CSRF-Token": token}).status_code
        == 404
    )
    page = client.get(f"/notices/{first[0].id}")
    assert page.status_code == 200 and 'href="/me"' in page.text
    assert client.get("/api/notices/unread").json() == {"unread": 1}
    marked = client.post("/api/notices/read-all", headers={"X-CSRF-Token": token})
    assert marked.json() == {"marked": 1}
    assert "第二条" in client.get("/notices").text
    assert client.get(f"/notices/{second[0].id}").status_code == 200


def test_admins_see_their_accounts_deliveries_and_send_one_again(
    client: TestClient,
    session: Session,
    people: dict[str, User],
    mailbox: MailBox,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    town = session.scalars(select(Organisation).where(Organisation.name == "镇党委")).one()
    other = session.scalars(select(Organisation).where(Organisation.name == "邻区委")).one()
    make_user(session, "adm", Role.org_admin, town)
    make_user(session, "far", Role.org_admin, other)
    gateway.answers = [400]  # the gateway refuses the number for good
    notify(session=session, recipients=[people["reachable"], people["silent"]], category="c",
           title="学习提醒")  # fmt: skip
    session.commit()
    _run_jobs(session)
    sms = _deliveries(session)["wangfang", "sms"]
    assert sms.status is DeliveryStatus.failed

    # A member is no admin; an admin of another district sees none of it.
    log_in(client, "wangfang")
    assert client.get("/admin/notices").status_code == 403
    log_in(client, "far")
    assert "没有找到送达记录" in client.get("/admin/notices").text
    token = log_in(client, "far")
    refused = client.post(f"/admin/notices/{sms.id}/retry", data={"csrf_token": token})
    assert refused.status_code == 404

    token = log_in(client, "adm")
    page = client.get("/admin/notices").text
    assert "通知送达" in page and "学习提醒" in page and "13800138000" in page
    assert "该渠道没有地址" in page  # silent has no e-mail and no phone
    failed = client.get("/admin/notices?status=failed").text
    assert failed.count("<tr>") == 2 and "短信" in failed  # the heading row and the SMS
    delivered = client.post(f"/admin/notices/{_deliveries(session)['wangfang', 'email'].id}/retry",
                            data={"csrf_token": token})  # fmt: skip
    assert delivered.status_code == 400 and "只有发送失败或没有地址的" in delivered.text

    # The branch puts the phone number right; the admin sends the message again.
    session.execute(update(Member).where(Member.user_id == people["reachable"].id)
                    .values(phone="13900139000"))  # fmt: skip
    session.commit()
    again = client.post(f"/admin/notices/{sms.id}/retry", data={"csrf_token": token},
                        follow_redirects=False)  # fmt: skip
    assert again.status_code == 303 and again.headers["location"] == "/admin/notices?done=retried"
    session.expire_all()
    sms = _deliveries(session)["wangfang", "sms"]
    assert sms.status is DeliveryStatus.pending and sms.address == "13900139000"
    assert _run_jobs(session) == [JobStatus.done]
    assert gateway.requests[-1][1]["to"] == "13900139000"
    assert _deliveries(session)["wangfang", "sms"].status is DeliveryStatus.delivered
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
    assert (entry.action, entry.actor_login, entry.target_id) == ("delivery_retried", "adm",
                                                                   str(sms.id))  # fmt: skip

    # A recipient who had no address gets one, and the skipped e-mail goes out after all.
    people["silent"].email = "silent@example.cn"
    session.commit()
    skipped = _deliveries(session)["silent", "email"]
    assert client.post(f"/admin/notices/{skipped.id}/retry", data={"csrf_token": token}
                       ).status_code == 200  # fmt: skip
    assert _run_jobs(session) == [JobStatus.done]
    assert mailbox.messages[-1][0] == ["silent@example.cn"]

    # With the SMS channel switched off since, a failed text message cannot be sent again.
    gateway.answers = [400]
    notify(session=session, recipients=[people["reachable"]], category="c", title="短信停用")
    session.commit()
    _run_jobs(session)
    stuck = session.scalars(
        select(Delivery).join(Notice).where(Notice.title == "短信停用", Delivery.channel == "sms")
    ).one()
    assert stuck.status is DeliveryStatus.failed
    monkeypatch.setattr(get_settings(), "sms_enabled", False)
    assert "重新发送</button>" not in client.get("/admin/notices?status=failed&channel=sms").text
    off = client.post(f"/admin/notices/{stuck.id}/retry", data={"csrf_token": token})
    assert off.status_code == 400 and "sms" in off.text


def test_the_deliveries_log_api(
    client: TestClient, session: Session, people: dict[str, User], gateway: Gateway
) -> None:
    town = session.scalars(select(Organisation).where(Organisation.name == "镇党委")).one()
    make_user(session, "adm", Role.org_admin, town)
    gateway.answers = [400]
    notify(session=session, recipients=[people["reachable"]], category="c", title="接口")
    session.commit()
    _run_jobs(session)
    log_in(client, "wangfang")
    assert client.get("/api/deliveries").status_code == 403
    token = log_in(client, "adm")
    log = client.get("/api/deliveries", params={"status": "failed"}).json()
    [item] = log["items"]
    assert (item["recipient_login"], item["channel"], item["title"]) == ("wangfang", "sms", "接口")
    assert item["retryable"] and item["address"] == "13800138000"
    assert log["total"] == 1 and log["counts"] == {"failed": 1}
    headers = {"X-CSRF-Token": token}
    again = client.post(f"/api/deliveries/{item['id']}/retry", headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "pending"
    assert not again.json()["retryable"]
    refused = client.post(f"/api/deliveries/{item['id']}/retry", headers=headers)
    assert refused.status_code == 400
    assert client.post("/api/deliveries/999999/retry", headers=headers).status_code == 404
    assert _run_jobs(session) == [JobStatus.done]
