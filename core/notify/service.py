"""Notices: `notify`, the one entry point other packages call, and what a recipient does with
their notices (list, count unread, read, mark read).

`notify` stores a notice per recipient in the caller's transaction, records its in-app delivery,
and for each switched-on external channel either a pending delivery with its job or a skipped
one (the recipient has no address there, or the account is deactivated). The jobs are handed to
the queue by the jobs outbox (core/jobs/queue.py: `hand_over_due_jobs`) or at once by a caller
that calls `dispatch` after its commit; either way nothing is sent inside a request.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, joinedload

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.jobs import create_jobs, enqueue
from core.notify.channels import Contact, InAppChannel, channel_named, external_channels
from core.notify.models import Delivery, DeliveryStatus, Notice
from core.notify.tasks import DELIVER_JOB
from core.paging import PER_PAGE, Page, paginate
from core.people.models import Member, User
from core.people.permissions import managed_users

CATEGORY_MAX, TITLE_MAX, BODY_MAX, LINK_MAX = 40, 200, 4000, 500
# Why a channel was skipped, stored on the delivery.
NO_ADDRESS = "no address for this channel"
INACTIVE = "account deactivated"


def _checked(category: str, title: str, body: str, link: str) -> tuple[str, str, str, str]:
    category, title, body, link = category.strip(), title.strip(), body.strip(), link.strip()
    if not category or len(category) > CATEGORY_MAX:
        raise InvalidInput(N_("A notice's category has 1 to %(max)s characters."), max=CATEGORY_MAX)
    if not title:
        raise InvalidInput(N_("A notice needs a title."))
    if len(title) > TITLE_MAX:
        raise InvalidInput(N_("A notice's title has at most %(max)s characters."), max=TITLE_MAX)
    if len(body) > BODY_MAX:
        raise InvalidInput(N_("A notice's text has at most %(max)s characters."), max=BODY_MAX)
    if link and (
        not link.startswith("/") or link.startswith(("//", "/\\")) or len(link) > LINK_MAX
    ):
        raise InvalidInput(N_("A notice links only to a page of this site (a path such as /me)."))
    return category, title, body, link


def contacts(*, session: Session, user_ids: list[int]) -> dict[int, Contact]:
    """Where each user can be reached: the account's e-mail and the linked member's phone."""
    rows = session.execute(
        select(User.id, User.email, Member.phone)
        .outerjoin(Member, Member.user_id == User.id)
        .where(User.id.in_(user_ids))
    )
    return {row.id: Contact(email=row.email or "", phone=row.phone or "") for row in rows}


def notify(
    *,
    session: Session,
    recipients: Iterable[User | int],
    category: str,
    title: str,
    body: str = "",
    link: str = "",
) -> list[Notice]:
    """Store a notice for each recipient (users or user ids, each once) and queue its delivery
    through every switched-on channel; returns the notices, flushed."""
    category, title, body, link = _checked(category, title, body, link)
    ids = list(dict.fromkeys(r.id if isinstance(r, User) else int(r) for r in recipients))
    if not ids:
        return []
    rows = session.execute(select(User.id, User.active).where(User.id.in_(ids)))
    active = {row.id: row.active for row in rows}
    missing = [user_id for user_id in ids if user_id not in active]
    if missing:
        raise NotFound(N_("Account %(id)s not found."), id=missing[0])
    reach = contacts(session=session, user_ids=ids)
    channels = external_channels()
    now = utcnow()
    notices, pending = [], []
    for user_id in ids:
        notice = Notice(user_id=user_id, category=category, title=title, body=body, link=link)
        notice.deliveries.append(
            Delivery(
                channel=InAppChannel.name,
                status=DeliveryStatus.delivered,
                address="",
                attempts=1,
                delivered_at=now,
            )
        )
        for channel in channels:
            address = channel.address(reach[user_id])
            skipped = INACTIVE if not active[user_id] else "" if address else NO_ADDRESS
            delivery = Delivery(
                channel=channel.name,
                status=DeliveryStatus.skipped if skipped else DeliveryStatus.pending,
                address=address,
                attempts=0,
                error=skipped or None,
            )
            notice.deliveries.append(delivery)
            if not skipped:
                pending.append(delivery)
        notices.append(notice)
    # One flush for the notices, one for the jobs, one for the links: thousands of recipients
    # cost a few statements, not a round trip each.
    session.add_all(notices)
    session.flush()
    payloads = [{"delivery_id": delivery.id} for delivery in pending]
    jobs = create_jobs(session=session, kind=DELIVER_JOB, payloads=payloads) if pending else []
    for delivery, job in zip(pending, jobs, strict=True):
        delivery.job_id = job.id
    session.flush()
    return notices


def delivery_jobs(notices: list[Notice]) -> list[int]:
    """The ids of the jobs that will deliver these notices (read them before the commit)."""
    return queued_jobs([d for notice in notices for d in notice.deliveries])


def queued_jobs(deliveries: list[Delivery]) -> list[int]:
    """The ids of the jobs that will send these deliveries (read them before the commit)."""
    pending = [d for d in deliveries if d.status is DeliveryStatus.pending]
    return [d.job_id for d in pending if d.job_id is not None]


def dispatch(job_ids: list[int]) -> None:
    """Hand delivery jobs to the queue now (after the caller's commit); without this the jobs
    outbox hands them over within its grace period."""
    for job_id in job_ids:
        enqueue(job_id)


# The recipient's side


def _own(user: User) -> Select[Any]:
    return select(Notice).where(Notice.user_id == user.id)


def list_notices(
    *,
    session: Session,
    user: User,
    unread_only: bool = False,
    category: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[Notice]:
    """The user's notices (of one category, if given), newest first."""
    statement = _own(user)
    if unread_only:
        statement = statement.where(Notice.read_at.is_(None))
    if category is not None:
        statement = statement.where(Notice.category == category)
    statement = statement.order_by(Notice.created_at.desc(), Notice.id.desc())
    return paginate(session, statement, page=page, per_page=per_page)


def unread_count(*, session: Session, user: User) -> int:
    """How many of the user's notices are unread (the bell's number)."""
    statement = select(func.count()).where(Notice.user_id == user.id, Notice.read_at.is_(None))
    return int(session.scalar(statement) or 0)


def get_notice(*, session: Session, user: User, notice_id: int) -> Notice:
    """One of the user's own notices; anyone else's is "not found"."""
    notice = session.get(Notice, notice_id)
    if notice is None or notice.user_id != user.id:
        raise NotFound(N_("Notice %(id)s not found."), id=notice_id)
    return notice


def mark_read(*, session: Session, user: User, notice_id: int) -> Notice:
    """Mark one of the user's notices read (reading it again keeps the first time)."""
    notice = get_notice(session=session, user=user, notice_id=notice_id)
    if notice.read_at is None:
        notice.read_at = utcnow()
        session.flush()
    return notice


def mark_all_read(*, session: Session, user: User) -> int:
    """Mark every unread notice of the user read; returns how many."""
    result = session.execute(
        update(Notice)
        .where(Notice.user_id == user.id, Notice.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# The admins' side


@dataclass(frozen=True)
class DeliveryRow:
    """A delivery as the admins' log shows it: with its notice and its recipient's account."""

    delivery: Delivery
    notice: Notice
    login: str
    display_name: str
    retryable: bool


def retryable(delivery: Delivery, channels_on: set[str]) -> bool:
    """Whether an admin may send a delivery again: it failed, or found no address, through a
    channel still switched on (`channels_on`: their names)."""
    no_address = delivery.status is DeliveryStatus.skipped and delivery.error == NO_ADDRESS
    failed = delivery.status is DeliveryStatus.failed or no_address
    return failed and delivery.channel in channels_on


def _managed_deliveries(viewer: User) -> Select[Any]:
    """Deliveries through external channels of notices to accounts the viewer manages."""
    return (
        select(Delivery)
        .join(Notice, Notice.id == Delivery.notice_id)
        .join(User, User.id == Notice.user_id)
        .where(managed_users(viewer), Delivery.channel != InAppChannel.name)
    )


def list_deliveries(
    *,
    session: Session,
    viewer: User,
    status: DeliveryStatus | None = None,
    channel: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[DeliveryRow]:
    """E-mails and text messages sent (or not) to accounts in the viewer's reach, newest
    first: where a notice did not reach its recipient, and why."""
    statement = _managed_deliveries(viewer)
    if status is not None:
        statement = statement.where(Delivery.status == status)
    if channel:
        statement = statement.where(Delivery.channel == channel)
    found = paginate(
        session,
        statement.options(joinedload(Delivery.notice)).order_by(Delivery.id.desc()),
        page=page,
        per_page=per_page,
    )
    rows = _rows(session, found.items)
    return Page(items=rows, total=found.total, page=found.page, per_page=found.per_page)


def _rows(session: Session, deliveries: list[Delivery]) -> list[DeliveryRow]:
    """The deliveries with their recipients' accounts (one query) and whether each can be sent
    again."""
    names = {
        row.id: row
        for row in session.execute(
            select(User.id, User.login, User.display_name).where(
                User.id.in_({delivery.notice.user_id for delivery in deliveries})
            )
        )
    }
    channels_on = {channel.name for channel in external_channels()}
    rows = []
    for delivery in deliveries:
        account = names[delivery.notice.user_id]
        rows.append(
            DeliveryRow(
                delivery,
                delivery.notice,
                account.login,
                account.display_name,
                retryable(delivery, channels_on),
            )
        )
    return rows


def delivery_counts(*, session: Session, viewer: User) -> dict[DeliveryStatus, int]:
    """How many deliveries in the viewer's reach stand at each status."""
    counted = _managed_deliveries(viewer).with_only_columns(Delivery.status, func.count())
    return {
        DeliveryStatus(status): int(count)
        for status, count in session.execute(counted.group_by(Delivery.status))
    }


def retry_delivery(
    *, session: Session, viewer: User, delivery_id: int, address: str = ""
) -> DeliveryRow:
    """Send again a delivery that failed, or found the recipient without an address, to the
    address the recipient has now (an admin may have put a phone number or e-mail address
    right): a new job, with the channel's attempts again. Audited; the jobs outbox hands the
    job to the queue. Returns the delivery as the log shows it."""
    delivery = session.scalar(_managed_deliveries(viewer).where(Delivery.id == delivery_id))
    if delivery is None:
        raise NotFound(N_("Delivery %(id)s not found."), id=delivery_id)
    channels_on = {channel.name for channel in external_channels()}
    if delivery.channel not in channels_on:
        raise InvalidInput(N_("The %(channel)s channel is switched off."), channel=delivery.channel)
    if not retryable(delivery, channels_on):
        raise InvalidInput(N_("Only a delivery that failed or found no address can be sent again."))
    user_id = delivery.notice.user_id
    if not session.scalar(select(User.active).where(User.id == user_id)):
        raise InvalidInput(N_("The recipient's account is deactivated."))
    reach = contacts(session=session, user_ids=[user_id])[user_id]
    now_at = channel_named(delivery.channel).address(reach)
    if not now_at:
        raise InvalidInput(N_("The recipient still has no address for this channel."))
    [job] = create_jobs(session=session, kind=DELIVER_JOB, payloads=[{"delivery_id": delivery.id}])
    delivery.status, delivery.address, delivery.job_id = DeliveryStatus.pending, now_at, job.id
    session.flush()
    record(
        session=session,
        action="delivery_retried",
        actor=viewer,
        target_type="delivery",
        target_id=delivery.id,
        address=address,
        detail={"channel": delivery.channel, "notice": delivery.notice_id},
    )
    return _rows(session, [delivery])[0]
