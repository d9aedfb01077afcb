"""JSON API of credits: a member's transcript, an organisation's ranking, and corrections."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from core.api import CurrentUser, RowId, SessionDep, client_address, verify_csrf
from core.db import utcnow
from core.errors import PermissionDenied
from core.i18n import N_
from terminals.credits.ledger import correct_credit, credit_year
from terminals.records.permissions import can_correct_record
from terminals.records.rankings import Ranking, get_ranked_org, rank_org
from terminals.records.schemas import YEAR_MAX, YEAR_MIN, CorrectionIn, EntryRead
from terminals.records.transcripts import Transcript, build_transcript, get_record_member

router = APIRouter(prefix="/api", dependencies=[Depends(verify_csrf)], tags=["credits"])
Year = Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX)]


@router.get("/members/{member_id}/transcript", response_model=Transcript)
def transcript_show(
    member_id: RowId, session: SessionDep, user: CurrentUser, year: Year = None
) -> Any:
    """A member's study record for a year (this year by default): every lesson and playback
    session to the second, coverage, credits, ledger entries, totals against the requirement.
    For the member and the admins of their organisation; the ID number comes masked."""
    member = get_record_member(session=session, user=user, member_id=member_id)
    return build_transcript(
        session=session, member=member, year=year if year is not None else credit_year(utcnow())
    )


@router.post("/members/{member_id}/credits/corrections", response_model=EntryRead, status_code=201)
def corrections_create(
    member_id: RowId, body: CorrectionIn, request: Request, session: SessionDep, user: CurrentUser
) -> Any:
    """Add a compensating ledger entry for a member of the caller's subtree (audited)."""
    member = get_record_member(session=session, user=user, member_id=member_id)
    if not can_correct_record(user, member):
        raise PermissionDenied(
            N_("Only an administrator of the member's organisation corrects credits.")
        )
    return correct_credit(
        session=session,
        actor=user,
        member=member,
        hours=body.hours,
        reason=body.reason,
        year=body.year,
        corrects_id=body.corrects_id,
        address=client_address(request),
    )


@router.get("/orgs/{org_id}/ranking", response_model=Ranking)
def ranking_show(org_id: RowId, session: SessionDep, user: CurrentUser, year: Year = None) -> Any:
    """Members and direct sub-organisations of an organisation ranked by credits in a year,
    with participation rates; for the organisation's admins."""
    org = get_ranked_org(session=session, user=user, org_id=org_id)
    return rank_org(
        session=session, org=org, year=year if year is not None else credit_year(utcnow())
    )
