"""JSON API of one's own notices: list, count unread, read one, mark read. Every route is for
the logged-in user and reaches only their own notices."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from core.api import CurrentUser, RowId, SessionDep, verify_csrf
from core.notify.models import Notice
from core.notify.schemas import DeliveryRead, MarkedRead, NoticePage, NoticeRead, UnreadCount
from core.notify.service import get_notice, list_notices, mark_all_read, mark_read, unread_count
from core.paging import MAX_PAGE, MAX_PER_PAGE, PER_PAGE

router = APIRouter(prefix="/api/notices", dependencies=[Depends(verify_csrf)], tags=["notices"])


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
