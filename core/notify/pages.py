"""Pages of one's own notices: the list (with mark all read) and a notice, which opening marks
read. The bell in the page header links here (web/static/js/bell.js keeps its number)."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from core.api import CurrentUser, RowId, SessionDep, verify_csrf
from core.notify.service import list_notices, mark_all_read, mark_read, unread_count
from core.people.forms import optional_id, pager, redirect, render

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
