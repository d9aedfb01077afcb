"""Notices: `notify`, the one entry point other packages call, and what a recipient does with
their notices (list, count unread, read, mark read).

`notify` stores a notice per recipient in the caller's transaction, records its in-app delivery,
and for each switched-on external channel either a pending delivery with its job or a skipped
one (the recipient has no address there, or the account is deactivated). The jobs are handed to
the queue by the jobs outbox (core/jobs/queue.py: `hand_over_due_jobs`) or at once by a caller
that calls `dispatch` after its commit; either way nothing is sent inside a request.
"""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.jobs import create_jobs, enqueue
from core.notify.channels import Contact, InAppChannel, external_channels
from core.notify.models import Delivery, DeliveryStatus, Notice
from core.notify.tasks import DELIVER_JOB
from core.paging import PER_PAGE, Page, paginate
from core.people.models import Member, User

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
    return [
        d.job_id
        for notice in notices
        for d in notice.deliveries
        if d.job_id is not None and d.status is DeliveryStatus.pending
    ]


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
