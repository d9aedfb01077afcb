"""Pages of one's own notices: the list (with mark all read) and a notice, which opening marks
read. The bell in the page header links here (web/static/js/bell.js keeps its number).

And for admins, the deliveries log (/admin/notices): the e-mails and text messages sent to the
accounts they manage, which did not arrive and why, and sending one again."""

from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from core.api import CurrentUser, RowId, SessionDep, client_address, verify_csrf
from core.i18n import N_
from core.localtime import CHINA_TIME
from core.notify.channels import external_channels
from core.notify.models import DeliveryStatus
from core.notify.service import (
    INACTIVE,
    NO_ADDRESS,
    DeliveryRow,
    delivery_counts,
    dispatch,
    list_deliveries,
    list_notices,
    mark_all_read,
    mark_read,
    queued_jobs,
    retry_delivery,
    unread_count,
)
from core.people.api import AdminUser
from core.people.forms import admin_page, optional_id, pager, redirect, render, submit
from core.people.models import User

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


@router.get("/notices")
def notices_page(
    request: Request, session: SessionDep, user: CurrentUser, page: str = "1", unread: str = ""
) -> Response:
    """The user's notices, newest first; unread ones stand out."""
    found = list_notices(
        session=session, user=user, unread_only=unread == "1", page=optional_id(page) or 1
    )
    context = {
        "user": user,
        "notices": found.items,
        "paging": pager(request, found),
        "unread": unread_count(session=session, user=user),
        "unread_only": unread == "1",
        "done": request.query_params.get("done"),
    }
    return render(request, "notify/notices.html", context)


@router.get("/notices/{notice_id}")
def notice_page(
    request: Request, notice_id: RowId, session: SessionDep, user: CurrentUser
) -> Response:
    """One notice, marked read as it is opened."""
    notice = mark_read(session=session, user=user, notice_id=notice_id)
    return render(request, "notify/notice.html", {"user": user, "notice": notice})


@router.post("/notices/{notice_id}/read")
def notice_mark_read(notice_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    """Mark one notice read from the list."""
    mark_read(session=session, user=user, notice_id=notice_id)
    return redirect("/notices")


@router.post("/notices/read-all")
def notices_mark_all(session: SessionDep, user: CurrentUser) -> Response:
    """Mark every notice read."""
    mark_all_read(session=session, user=user)
    return redirect("/notices?done=read")


# What the deliveries log calls each status and channel.
STATUS_LABELS = {
    DeliveryStatus.failed: N_("Sending failed"),
    DeliveryStatus.pending: N_("Waiting to be sent"),
    DeliveryStatus.delivered: N_("Delivered"),
    DeliveryStatus.skipped: N_("Not sent"),
}
CHANNEL_LABELS = {"email": N_("E-mail"), "sms": N_("Text message")}
# Why a delivery was not sent, in the reader's language (a channel's own errors are shown as
# its server gave them).
SKIP_REASONS = {
    NO_ADDRESS: N_("No address for this channel"),
    INACTIVE: N_("The account is deactivated"),
}


def _deliveries_page(
    request: Request,
    session: Session,
    viewer: User,
    *,
    state: str = "",
    channel: str = "",
    page: str = "1",
    error: str | None = None,
    status: int = 200,
) -> Response:
    wanted = DeliveryStatus(state) if state in DeliveryStatus.__members__ else None
    channel = channel if channel in CHANNEL_LABELS else ""
    found = list_deliveries(
        session=session,
        viewer=viewer,
        status=wanted,
        channel=channel,
        page=optional_id(page) or 1,
    )
    return admin_page(
        request,
        "notify/deliveries.html",
        actor=viewer,
        section="notices",
        error=error,
        status=status,
        rows=[(row, row.delivery.created_at.astimezone(CHINA_TIME)) for row in found.items],
        counts=delivery_counts(session=session, viewer=viewer),
        channels_on=[channel.name for channel in external_channels()],
        status_labels=STATUS_LABELS,
        channel_labels=CHANNEL_LABELS,
        skip_reasons=SKIP_REASONS,
        filters={"status": wanted.value if wanted else "", "channel": channel},
        paging=pager(request, found),
    )


@router.get("/admin/notices")
def deliveries_page(
    request: Request,
    session: SessionDep,
    viewer: AdminUser,
    status: str = "",
    channel: str = "",
    page: str = "1",
) -> Response:
    """The deliveries log: newest first, by status and channel."""
    return _deliveries_page(request, session, viewer, state=status, channel=channel, page=page)


@router.post("/admin/notices/{delivery_id}/retry")
def delivery_retry(
    request: Request, delivery_id: RowId, session: SessionDep, viewer: AdminUser
) -> Response:
    """Send a delivery again (to the recipient's address as it is now)."""

    def change() -> Any:
        return retry_delivery(
            session=session,
            viewer=viewer,
            delivery_id=delivery_id,
            address=client_address(request),
        )

    again = partial(_deliveries_page, request, session, viewer)
    return submit(request, session, change, done=_retried, again=again)


def _retried(row: DeliveryRow) -> Response:
    """Back to the log; the delivery's job goes to the queue once the change is committed
    (after the response, which is sent after the commit)."""
    response = redirect("/admin/notices?done=retried")
    response.background = BackgroundTask(dispatch, queued_jobs([row.delivery]))
    return response
