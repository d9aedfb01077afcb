"""HTML pages of credits: a member's study record (their own, or as an admin sees it, with the
form for a correction)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from core.api import CurrentUser, RowId, SessionDep, client_address, verify_csrf
from core.db import utcnow
from core.errors import PermissionDenied
from core.i18n import N_
from core.people.forms import render, submit
from terminals.credits.ledger import correct_credit, credit_year
from terminals.records.permissions import can_correct_record
from terminals.records.schemas import YEAR_MAX, YEAR_MIN, CorrectionIn
from terminals.records.transcripts import build_transcript, get_record_member

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
Year = Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX)]


def _page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    member_id: int,
    year: int | None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    member = get_record_member(session=session, user=user, member_id=member_id)
    year = year if year is not None else credit_year(utcnow())
    transcript = build_transcript(session=session, member=member, year=year)
    return render(
        request,
        "terminals/records/transcript.html",
        {
            "user": user,
            "t": transcript,
            "can_correct": can_correct_record(user, member),
            "done": request.query_params.get("done"),
            "error": error,
        },
        status=status,
    )


@router.get("/members/{member_id}/transcript")
def transcript_page(
    member_id: RowId, request: Request, session: SessionDep, user: CurrentUser, year: Year = None
) -> Response:
    """A member's study record for a year: lessons, sessions, coverage, credits, totals."""
    return _page(request, session, user, member_id, year)


@router.post("/members/{member_id}/transcript/corrections")
def correction_post(
    member_id: RowId,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    hours: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    year: Annotated[str, Form()] = "",
) -> Response:
    """An admin's correction from the record page: a compensating entry, audited."""
    member = get_record_member(session=session, user=user, member_id=member_id)
    if not can_correct_record(user, member):
        raise PermissionDenied(
            N_("Only an administrator of the member's organisation corrects credits.")
        )
    wanted_year = int(year) if year.isdigit() else None

    def change() -> object:
        body = CorrectionIn(hours=hours or "0", reason=reason, year=wanted_year)  # type: ignore[arg-type]
        return correct_credit(
            session=session,
            actor=user,
            member=member,
            hours=body.hours,
            reason=body.reason,
            year=body.year,
            address=client_address(request),
        )

    return submit(
        request,
        session,
        change,
        done=f"/members/{member_id}/transcript?"
        + (f"year={wanted_year}&" if wanted_year else "")
        + "done=saved",
        again=lambda error, status: _page(
            request, session, user, member_id, wanted_year, error=error, status=status
        ),
    )
