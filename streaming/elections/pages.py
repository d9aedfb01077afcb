"""An election's public page: its results as the record gives them, the ballots issued and
returned at each venue, and its record to download and check (with how, in plain words)."""

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from core.api import OptionalUser, RowId, SessionDep, verify_csrf
from core.people.forms import render
from streaming.elections.record import public_key_text, results_of
from streaming.elections.service import entries_of, export, get_public_election, record_key

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


def venues_of(entries: list[dict[str, Any]]) -> dict[int, dict[str, dict[str, int]]]:
    """Per round and venue, the ballots issued and returned."""
    venues: dict[int, dict[str, dict[str, int]]] = defaultdict(dict)
    for entry in entries:
        if entry["kind"] in ("ballots_issued", "ballots_returned"):
            data = entry["data"]
            counts = venues[data["round"]].setdefault(data["venue"], {"issued": 0, "returned": 0})
            counts[entry["kind"].removeprefix("ballots_")] = data["count"]
    return venues


@router.get("/elections/{election_id}")
def election_page(
    request: Request, election_id: RowId, session: SessionDep, user: OptionalUser
) -> Response:
    """The election's results and record, for anyone when it is public."""
    election = get_public_election(session, user, election_id)
    entries = entries_of(session, election)
    rounds = {
        entry["data"]["round"]: entry["data"]
        for entry in entries
        if entry["kind"] == "round_opened"
    }
    return render(
        request,
        "streaming/election.html",
        {
            "user": user,
            "election": election,
            "rounds": rounds,
            "results": results_of(entries),
            "venues": venues_of(entries),
            "entries": len(entries),
            "public_key": public_key_text(record_key()),
        },
    )


@router.get("/elections/{election_id}/record.json")
def election_record(election_id: RowId, session: SessionDep, user: OptionalUser) -> Response:
    """The record's export (docs/election-record.md), to check with any verifier."""
    election = get_public_election(session, user, election_id)
    return Response(
        export(session, election.id),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="election-{election.id}.json"'},
    )
