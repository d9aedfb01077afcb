"""The audit log page for admins: filter by account, action and dates, newest first, page by
page, and export what the filter shows."""

from datetime import date, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from core.api import SessionDep, verify_csrf
from core.audit.service import ACTIONS, DETAIL_LABELS, TARGET_TYPES, AuditFilter, page_entries
from core.localtime import CHINA_TIME, day_start
from core.paging import page_links
from core.people.api import AdminUser
from core.people.forms import admin_page
from core.people.models import Organisation

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
# Days a filter may name (the ends of the calendar cannot be shifted between time zones).
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)


def _day(value: str) -> date | None:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    return day if EARLIEST <= day <= LATEST else None


@router.get("/admin/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    viewer: AdminUser,
    actor: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    page: str = "1",
) -> Response:
    """The entries the admin may read, filtered; dates are whole days in China time."""
    first, last = _day(since), _day(until)
    wanted = AuditFilter(
        actor=actor.strip()[:80],
        action=action.strip()[:60],
        since=day_start(first) if first else None,
        until=day_start(last + timedelta(days=1)) if last else None,
    )
    number = int(page) if page.isascii() and page.isdigit() else 1
    found = page_entries(session=session, viewer=viewer, wanted=wanted, page=number)
    org_ids = {entry.org_id for entry in found.items if entry.org_id is not None}
    names = dict(
        session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))
        ).all()
    )
    shown = {
        "actor": wanted.actor,
        "action": wanted.action,
        "since": first.isoformat() if first else "",
        "until": last.isoformat() if last else "",
    }
    exported = {
        "actor": wanted.actor,
        "action": wanted.action,
        "since": wanted.since.isoformat() if wanted.since else "",
        "until": wanted.until.isoformat() if wanted.until else "",
    }
    unreadable = [
        value for value, day in ((since, first), (until, last)) if value.strip() and not day
    ]
    return admin_page(
        request,
        "audit/log.html",
        actor=viewer,
        section="audit",
        entries=[
            (entry, entry.at.astimezone(CHINA_TIME), names.get(entry.org_id or 0, ""))
            for entry in found.items
        ],
        actions=ACTIONS,
        target_types=TARGET_TYPES,
        detail_labels=DETAIL_LABELS,
        filters=shown,
        bad_dates=bool(unreadable),
        export_url="/api/audit/export?" + urlencode({k: v for k, v in exported.items() if v}),
        paging=page_links("/admin/audit", shown, found),
    )
