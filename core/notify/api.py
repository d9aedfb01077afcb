"""JSON API of one's own notices: list, count unread, read one, mark read. Every route is for
the logged-in user and reaches only their own notices.

And the admins' deliveries log (/api/deliveries): the e-mails and text messages sent to the
accounts an admin manages, and sending one again."""

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request

from core.api import CurrentUser, RowId, SessionDep, client_address, verify_csrf
from core.notify.models import DeliveryStatus, Notice
from core.notify.schemas import (
    DeliveryLogPage,
    DeliveryLogRead,
    DeliveryRead,
    MarkedRead,
    NoticePage,
    NoticeRead,
    UnreadCount,
)
from core.notify.service import (
    DeliveryRow,
    delivery_counts,
    dispatch,
    get_notice,
    list_deliveries,
    list_notices,
    mark_all_read,
    mark_read,
    queued_jobs,
    retry_delivery,
    unread_count,
)
from core.paging import MAX_PAGE, MAX_PER_PAGE, PER_PAGE
from core.people.api import AdminUser

router = APIRouter(prefix="/api/notices", dependencies=[Depends(verify_csrf)], tags=["notices"])
deliveries_router = APIRouter(
    prefix="/api/deliveries", dependencies=[Depends(verify_csrf)], tags=["notices"]
)


def notice_read(notice: Notice) -> NoticeRead:
    """A notice as the API shows it, deliveries by channel."""
    return NoticeRead(
        id=notice.id,
        category=notice.category,
        title=notice.title,
        body=notice.body,
        link=notice.link,
        created_at=notice.created_at,
        read_at=notice.read_at,
        deliveries=[
            DeliveryRead(
                channel=d.channel,
                status=d.status,
                attempts=d.attempts,
                error=d.error,
                delivered_at=d.delivered_at,
            )
            for d in sorted(notice.deliveries, key=lambda d: d.id)
        ],
    )


@router.get("", response_model=NoticePage)
def notices_index(
    session: SessionDep,
    user: CurrentUser,
    unread: bool = False,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = PER_PAGE,
) -> Any:
    """The caller's notices, newest first (only unread ones with `unread=true`)."""
    found = list_notices(
        session=session, user=user, unread_only=unread, page=page, per_page=per_page
    )
    return NoticePage(
        items=[notice_read(n) for n in found.items],
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        unread=unread_count(session=session, user=user),
    )


@router.get("/unread", response_model=UnreadCount)
def notices_unread(session: SessionDep, user: CurrentUser) -> Any:
    """How many of the caller's notices are unread (the bell in the page header)."""
    return UnreadCount(unread=unread_count(session=session, user=user))


@router.post("/read-all", response_model=MarkedRead)
def notices_read_all(session: SessionDep, user: CurrentUser) -> Any:
    """Mark every unread notice of the caller read."""
    return MarkedRead(marked=mark_all_read(session=session, user=user))


@router.get("/{notice_id}", response_model=NoticeRead)
def notices_show(notice_id: RowId, session: SessionDep, user: CurrentUser) -> Any:
    """One of the caller's notices (reading it here does not mark it read)."""
    return notice_read(get_notice(session=session, user=user, notice_id=notice_id))


@router.post("/{notice_id}/read", response_model=NoticeRead)
def notices_mark_read(notice_id: RowId, session: SessionDep, user: CurrentUser) -> Any:
    """Mark one of the caller's notices read."""
    return notice_read(mark_read(session=session, user=user, notice_id=notice_id))


def delivery_log_read(row: DeliveryRow) -> DeliveryLogRead:
    """A delivery as the admins' log shows it."""
    d = row.delivery
    return DeliveryLogRead(
        id=d.id,
        notice_id=row.notice.id,
        category=row.notice.category,
        title=row.notice.title,
        recipient_login=row.login,
        recipient_name=row.display_name,
        channel=d.channel,
        address=d.address,
        status=d.status,
        attempts=d.attempts,
        error=d.error,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
        retryable=row.retryable,
    )


@deliveries_router.get("", response_model=DeliveryLogPage)
def deliveries_index(
    session: SessionDep,
    viewer: AdminUser,
    status: DeliveryStatus | None = None,
    channel: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = PER_PAGE,
) -> Any:
    """E-mails and text messages sent to the accounts the caller manages, newest first."""
    found = list_deliveries(
        session=session,
        viewer=viewer,
        status=status,
        channel=channel,
        page=page,
        per_page=per_page,
    )
    return DeliveryLogPage(
        items=[delivery_log_read(row) for row in found.items],
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        counts=delivery_counts(session=session, viewer=viewer),
    )


@deliveries_router.post("/{delivery_id}/retry", response_model=DeliveryLogRead)
def deliveries_retry(
    delivery_id: RowId,
    request: Request,
    session: SessionDep,
    viewer: AdminUser,
    after: BackgroundTasks,
) -> Any:
    """Send again a delivery that failed or found no address, to the recipient's address as
    it is now (400 for any other). Its job goes to the queue once the change is committed."""
    row = retry_delivery(
        session=session, viewer=viewer, delivery_id=delivery_id, address=client_address(request)
    )
    after.add_task(dispatch, queued_jobs([row.delivery]))
    return delivery_log_read(row)
