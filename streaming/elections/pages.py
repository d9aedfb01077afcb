"""Pages of elections: the public page (the program, the live standing, each round's results,
the record to download and check, with how in plain words) and the officers' console, where the
chair moves the procedure, tellers enter ballots and scrutineers settle disagreements."""

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from core.api import CurrentUser, OptionalUser, RowId, SessionDep, unit_of_work, verify_csrf
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.i18n import N_, error_text
from core.people.api import reader_locale
from core.people.forms import redirect, render
from core.people.models import User
from core.security import signing_key
from core.storage import get_store
from courseware.delivery import direct_url
from streaming.congress.api import program_playlist
from streaming.elections.live import snapshot_key, standing
from streaming.elections.models import Election
from streaming.elections.procedure import Phase, Role, Step, role_of, state_of
from streaming.elections.record import recommendation_of, results_of
from streaming.elections.report import make_report
from streaming.elections.rules import PER_MILLE, ballot_entry, count_entries
from streaming.elections.service import (
    broadcast_of,
    electorate_fact,
    entries_of,
    export,
    followed_elections,
    get_public_election,
    member_id_of,
    member_names,
    nearby_sites,
    outside_recommenders,
    record_fact,
    venues_fact,
)
from streaming.media.broadcast import LIVE_SYNC_SEGMENTS

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


@router.get("/elections")
def elections_page(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """The elections one may follow: the public ones, and those of one's own branch of the tree."""
    elections = followed_elections(session, user)
    return render(request, "streaming/elections.html", {"user": user, "elections": elections})


@router.get("/elections/{election_id}")
def election_page(
    request: Request, election_id: RowId, session: SessionDep, user: OptionalUser
) -> Response:
    """The election for anyone when it is public: its program while broadcast, where it stands
    (kept up to date as the tellers enter ballots), each round's results and its record."""
    election = get_public_election(session, user, election_id)
    entries = entries_of(session, election)
    snapshot = direct_url(
        get_store(),
        snapshot_key(election.id),
        ttl=timedelta(hours=12),
        secret=signing_key("media-link"),
    )
    return render(
        request,
        "streaming/election.html",
        {
            "user": user,
            "election": election,
            "officer": user is not None and role_of(entries, user.login) is not None,
            "standing": standing(election.id, entries),
            "snapshot_url": snapshot,
            "steps": list(Step),
            "report": make_report(session, election),
            "live_sync": LIVE_SYNC_SEGMENTS,
        },
    )


@router.get("/elections/{election_id}/report")
def report_page(
    request: Request,
    election_id: RowId,
    session: SessionDep,
    user: OptionalUser,
    download: bool = False,
) -> Response:
    """The result report (选举结果报告单), printable (a PDF from the browser's print dialog);
    with ``download``, as a document of its own."""
    election = get_public_election(session, user, election_id)
    page = (
        "streaming/election_report_document.html" if download else "streaming/election_report.html"
    )
    response = render(request, page, {"user": user, "report": make_report(session, election)})
    if download:
        response.headers["Content-Disposition"] = (
            f'attachment; filename="election-report-{election.id}.html"'
        )
    return response


@router.get("/elections/{election_id}/program.m3u8")
async def election_program(election_id: RowId, user: OptionalUser) -> Response:
    """The election's broadcast, for whoever may see the election (anyone, when it is public)."""
    event = await unit_of_work(
        lambda session: broadcast_of(session, get_public_election(session, user, election_id))
    )
    return await program_playlist(event.id)


@router.get("/elections/{election_id}/record.json")
def election_record(election_id: RowId, session: SessionDep, user: OptionalUser) -> Response:
    """The record's export (docs/election-record.md), to check with any verifier."""
    election = get_public_election(session, user, election_id)
    return Response(
        export(session, election.id),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="election-{election.id}.json"'},
    )


@router.get("/elections/{election_id}/console")
def console_page(
    request: Request, election_id: RowId, session: SessionDep, user: CurrentUser
) -> Response:
    """The console of the election's officers, each seeing what their office does now."""
    context = console(session, user, election_id)
    context["done"] = request.query_params.get("done")
    return render(request, "streaming/election_console.html", context)


@router.post("/elections/{election_id}/console")
async def console_submit(request: Request, election_id: RowId, user: CurrentUser) -> Response:
    """One fact from the console's forms, on the record if the procedure allows it now; else
    the console again with the reason (a refusal is audited by the service)."""
    form = await request.form()
    kind = str(form.get("kind", ""))
    return await record_from_form(
        request,
        user,
        election_id,
        lambda session, election: (kind, fact_from_form(kind, form, entries_of(session, election))),
        page=console,
        template="streaming/election_console.html",
        done=f"/elections/{election_id}/console?done={kind}",
    )


async def record_from_form(
    request: Request,
    user: User,
    election_id: int,
    fact: Callable[[Session, Election], tuple[str, dict[str, Any]]],
    *,
    page: Callable[[Session, User, int], dict[str, Any]],
    template: str,
    done: str,
    keep: Mapping[str, Any] | None = None,
) -> Response:
    """The round trip of a form on an election's pages: the fact it gives (kind, data) goes on
    the record if the procedure allows it now, the live feed sends it and the reader sees
    ``done``; else ``template`` again (``page``'s context, what the form ``keep``s) with the
    reason in the reader's language. The service audits a refusal."""

    def change(session: Session) -> None:
        election = get_public_election(session, user, election_id)
        kind, data = fact(session, election)
        record_fact(session=session, election=election, user=user, kind=kind, data=data)

    try:
        await unit_of_work(change)
    except (PermissionDenied, InvalidInput, NotFound) as exc:
        context = await unit_of_work(lambda session: page(session, user, election_id))
        context.update(keep or {}, error=error_text(reader_locale(request), exc))
        status = 400 if isinstance(exc, InvalidInput) else 404 if isinstance(exc, NotFound) else 403
        return render(request, template, context, status=status)
    await request.app.state.election_feed.recorded(election_id)
    return redirect(done)


def console(session: Session, user: User, election_id: int) -> dict[str, Any]:
    """What the console shows ``user``: where the election stands, and for a teller their own
    latest entries and the next ballot's number, for a scrutineer the ballots held."""
    election = get_public_election(session, user, election_id)
    entries = entries_of(session, election)
    role = role_of(entries, user.login)
    if role is None:
        raise PermissionDenied(
            N_("Only the election's chair, scrutineers and tellers use its console.")
        )
    state = state_of(entries)
    author = f"{role.value}:{user.login}"
    ballots = [
        ballot_entry(e)
        for e in entries
        if e["kind"] in ("ballot", "settlement") and e["data"]["round"] == state.round
    ]
    counted = count_entries(ballots, state.round)
    mine = [b for b in ballots if b.author == author]
    replaced = {b.corrects for b in ballots}
    return {
        "user": user,
        "election": election,
        "role": role.value,
        "state": state,
        "steps": list(Step),
        "standing": standing(election.id, entries),
        "results": results_of(entries).get(str(state.round), {}),
        "next_number": max((b.number for b in mine), default=0) + 1,
        "mine": [b for b in reversed(mine) if b.seq not in replaced][:10],
        "agreed": set(counted.agreed),
        "held": {
            number: [b for b in ballots if b.number == number and b.seq not in replaced]
            for number in counted.held
        },
        "counted": counted,
        "venue_names": sorted(state.venues),
        "done": None,
        "error": None,
    }


def fact_from_form(
    kind: str, form: Mapping[str, Any], entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """The console form's fields as the fact's data (the shapes check them after)."""
    state = state_of(entries)

    def number(name: str) -> int:
        try:
            return int(str(form.get(name, "")).strip())
        except ValueError:
            raise InvalidInput(N_("Give a whole number.")) from None

    def names(name: str) -> list[str]:
        text = str(form.get(name, "")).replace("，", ",").replace("、", ",")
        return [n.strip() for line in text.splitlines() for n in line.split(",") if n.strip()]

    if kind == "step":
        return {"step": number("step")}
    if kind == "roll":
        return {"round": state.round, "present": number("present"), "expected": number("expected")}
    if kind == "officers":
        return {"scrutineers": names("scrutineers"), "tellers": names("tellers")}
    if kind == "round_opened":
        return {
            "round": state.round,
            "candidates": names("candidates"),
            "seats": number("seats"),
            "basis": str(form.get("basis", "present")),
        }
    if kind in ("ballots_issued", "ballots_returned"):
        return {
            "round": state.round,
            "venue": str(form.get("venue", "")).strip(),
            "count": number("count"),
        }
    if kind in ("ballot", "settlement"):
        return ballot_from_form(form, entries, state.round, number)
    if kind == "announced":
        return {"round": state.round, "result": results_of(entries).get(str(state.round), {})}
    if kind in ("adjourned", "resumed"):
        return {"reason": str(form.get("reason", "")).strip()}
    if kind == "round_void":
        return {"round": state.round, "reason": str(form.get("reason", "")).strip()}
    raise InvalidInput(N_("The console does not record this."))


def ballot_from_form(
    form: Mapping[str, Any], entries: list[dict[str, Any]], round_: int, number: Any
) -> dict[str, Any]:
    """A paper ballot as the teller read it: each candidate's mark and the names written in."""
    candidates: list[str] = next(
        (
            e["data"]["candidates"]
            for e in reversed(entries)
            if e["kind"] == "round_opened" and e["data"]["round"] == round_
        ),
        [],
    )
    marks = {name: str(form.get(f"mark:{name}", "")) for name in candidates}
    write_ins = {
        name: str(form.get(f"write:{name}", "")).strip()
        for name in candidates
        if str(form.get(f"write:{name}", "")).strip()
    }
    data: dict[str, Any] = {"round": round_, "number": number("number"), "marks": marks}
    if write_ins:
        data["write_ins"] = write_ins
    if str(form.get("corrects", "")).strip():
        data["corrects"] = number("corrects")
    return data


@router.get("/elections/{election_id}/recommend")
def recommend_page(
    request: Request, election_id: RowId, session: SessionDep, user: CurrentUser
) -> Response:
    """The recommendation round (公推) for a member: their set to give while it is open, the
    one they gave, or why they cannot; for the chair and scrutineers, a paper set to enter for
    a member at a venue; and its ranked list once it has closed."""
    context = recommending(session, user, election_id)
    context["done"] = request.query_params.get("done")
    return render(request, "streaming/election_recommend.html", context)


@router.post("/elections/{election_id}/recommend")
async def recommend_submit(request: Request, election_id: RowId, user: CurrentUser) -> Response:
    """A member's own recommendation set, or a paper set an officer enters for the member the
    form names, on the record if the round takes it; else the page again with the reason (the
    service audits a refusal)."""
    form = await request.form()
    names = [name.strip() for name in form.getlist("name") if isinstance(name, str)]
    named = str(form.get("member", "")).strip()

    def recommendation(session: Session, election: Election) -> tuple[str, dict[str, Any]]:
        member = int(named) if named.isascii() and named.isdigit() else member_id_of(session, user)
        if member is None:
            raise PermissionDenied(N_("Only members of the party organisation may recommend."))
        return "recommendation", {"member": member, "names": [name for name in names if name]}

    return await record_from_form(
        request,
        user,
        election_id,
        recommendation,
        page=recommending,
        template="streaming/election_recommend.html",
        done=f"/elections/{election_id}/recommend?done={'paper' if named else 'own'}",
        keep={"names": names},
    )


PREPARATION = frozenset(
    {"electorate", "venues", "recommendation_opened", "recommendation_closed",
     "candidates_confirmed"}
)  # fmt: skip
"""What the chair records on the recommendation page, before the vote."""


@router.post("/elections/{election_id}/recommend/chair")
async def prepare_submit(request: Request, election_id: RowId, user: CurrentUser) -> Response:
    """One of the chair's facts before the vote, from the recommendation page's forms: the
    electorate (from the organisation's members), the venues, and opening, closing and
    confirming the recommendation round; else the page again with the reason."""
    form = await request.form()
    kind = str(form.get("kind", ""))
    return await record_from_form(
        request,
        user,
        election_id,
        lambda session, election: (kind, preparation_from_form(session, election, kind, form)),
        page=recommending,
        template="streaming/election_recommend.html",
        done=f"/elections/{election_id}/recommend?done={kind}",
    )


def preparation_from_form(
    session: Session, election: Election, kind: str, form: FormData
) -> dict[str, Any]:
    """The chair's form as the fact's data (the shapes and the procedure check it after)."""
    if kind not in PREPARATION:
        raise InvalidInput(N_("Nothing to record."))
    if kind == "electorate":
        return electorate_fact(session=session, election=election)
    if kind == "venues":
        chosen = [str(site) for site in form.getlist("site")]
        sites = [int(site) for site in chosen if site.isascii() and site.isdigit()]
        main = str(form.get("main", ""))
        rooms = [line.strip() for line in str(form.get("rooms", "")).splitlines() if line.strip()]
        return venues_fact(session=session, election=election, main=main, rooms=rooms, sites=sites)
    if kind == "recommendation_opened":
        names = str(form.get("names", "")).strip()
        if not (names.isascii() and names.isdigit()):
            raise InvalidInput(N_("Give a whole number."))
        try:
            weight = round(float(str(form.get("weight", "0.5"))) * PER_MILLE)
        except ValueError:
            raise InvalidInput(N_("Give the weight as a number, such as 0.5.")) from None
        state = state_of(entries_of(session, election))
        outsiders = dict(outside_recommenders(session, election, state.electorate or ()))
        named = [str(value) for value in form.getlist("extra")]
        extras = [int(value) for value in named if value.isascii() and value.isdigit()]
        if any(member not in outsiders for member in extras):
            raise NotFound(N_("That member may not be named to recommend here."))
        extra = [{"member": member, "weight": weight} for member in extras]
        return {"names": int(names), "extra": extra}
    if kind == "candidates_confirmed":
        candidates = [str(name) for name in form.getlist("candidate")]
        return {"candidates": candidates, "by": str(form.get("by", "")).strip()}
    return {}


def recommending(session: Session, user: User, election_id: int) -> dict[str, Any]:
    """What the recommendation page shows ``user``: the round's phase, whether they may give a
    set (and how many names), the set they gave, for an officer the members whose paper set
    may still be entered, and the ranked list once the round closed."""
    election = get_public_election(session, user, election_id)
    entries = entries_of(session, election)
    state = state_of(entries)
    member = member_id_of(session, user)
    role = role_of(entries, user.login)
    officer = role in (Role.chair, Role.scrutineer)
    preparing = role is Role.chair and state.step is None
    waiting = set(state.weights) - state.given if officer and state.phase is Phase.open else set()
    paper = member_names(session, waiting) if waiting else []
    given = next(
        (
            e["data"]["names"]
            for e in entries
            if e["kind"] == "recommendation" and e["data"]["member"] == member
        ),
        None,
    )
    return {
        "user": user,
        "election": election,
        "phase": state.phase.value,
        "names": [],
        "limit": state.names,
        "eligible": member is not None and member in state.weights,
        "given": given,
        "paper": paper,
        "preparing": preparing,
        "electorate": len(state.electorate) if state.electorate is not None else None,
        "members": len(electorate_fact(session=session, election=election)["members"])
        if preparing and state.phase is Phase.none
        else 0,
        "venues": sorted(state.venues),
        "sites": nearby_sites(session, election) if preparing and not state.venues else [],
        "outsiders": outside_recommenders(session, election, state.electorate)
        if preparing and state.phase is Phase.none and state.electorate is not None
        else [],
        "recommendation": recommendation_of(entries),
        "confirmed": state.confirmed,
        "done": None,
        "error": None,
    }
