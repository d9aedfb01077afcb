"""JSON API of the audit log: read and export it, filtered, within the reader's subtrees. It
has no route that changes or removes an entry."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from core.api import SessionDep, verify_csrf
from core.audit.schemas import AuditRead
from core.audit.service import AuditFilter, export_log, page_entries
from core.errors import InvalidInput
from core.i18n import N_
from core.paging import PER_PAGE
from core.people.api import (
    AdminUser,
    PageNumber,
    PerPage,
    client_address,
    page_read,
    reader_locale,
)
from core.people.schemas import PageRead

router = APIRouter(prefix="/api/audit", dependencies=[Depends(verify_csrf)], tags=["audit"])


def _aware(moment: datetime | None) -> datetime | None:
    """The time in UTC; one given without a zone is taken as UTC already."""
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput(N_("The time is out of range.")) from exc


def audit_filter(
    actor: Annotated[str, Query(max_length=80, description="exact login of the actor")] = "",
    action: Annotated[str, Query(max_length=60, description="e.g. role_granted")] = "",
    since: Annotated[datetime | None, Query(description="from this time on")] = None,
    until: Annotated[datetime | None, Query(description="before this time")] = None,
) -> AuditFilter:
    """The filter given in the query string."""
    return AuditFilter(actor.strip(), action.strip(), _aware(since), _aware(until))


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("", response_model=PageRead[AuditRead])
def audit_index(
    wanted: FilterDep,
    viewer: AdminUser,
    session: SessionDep,
    page: PageNumber = 1,
    per_page: PerPage = PER_PAGE,
) -> Any:
    """Entries the caller may read, newest first."""
    found = page_entries(
        session=session, viewer=viewer, wanted=wanted, page=page, per_page=per_page
    )
    return page_read(found, [AuditRead.model_validate(entry) for entry in found.items])


@router.get("/export")
def audit_export(
    request: Request, wanted: FilterDep, viewer: AdminUser, session: SessionDep
) -> Response:
    """The filtered entries as CSV; the export itself is recorded in the log."""
    data = export_log(
        session=session,
        viewer=viewer,
        wanted=wanted,
        locale=reader_locale(request),
        address=client_address(request),
    )
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
