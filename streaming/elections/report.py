"""The result report (选举结果报告单): what the election's record says, laid out for the paper the
scrutineers sign — its officers, 应到 and its exclusions, the venues, the recommendation round,
and for each round the ballots issued and returned at each venue, the votes, the threshold and
who is elected; with the record's last hash and the key, so the paper names the record it sums
up."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import User
from streaming.elections.models import Election
from streaming.elections.procedure import QUORUM, state_of
from streaming.elections.record import digest, public_key_text, results_of
from streaming.elections.rules import reconciliation
from streaming.elections.service import entries_of, record_key


def venues_of(entries: list[dict[str, Any]]) -> dict[int, dict[str, dict[str, int]]]:
    """Per round and venue, the ballots issued and returned."""
    venues: dict[int, dict[str, dict[str, int]]] = defaultdict(dict)
    for entry in entries:
        if entry["kind"] in ("ballots_issued", "ballots_returned"):
            data = entry["data"]
            counts = venues[data["round"]].setdefault(data["venue"], {"issued": 0, "returned": 0})
            counts[entry["kind"].removeprefix("ballots_")] = data["count"]
    return venues


@dataclass
class RoundReport:
    number: int
    opened: dict[str, Any]  # candidates, seats, basis
    present: int
    expected: int
    venues: dict[str, dict[str, int]]
    result: dict[str, Any]  # the count (streaming.elections.rules.Tally), or {"void": reason}
    announced_at: str | None

    @property
    def quorate(self) -> bool:
        return self.present * QUORUM.denominator > self.expected * QUORUM.numerator

    @property
    def issued(self) -> int:
        return sum(v["issued"] for v in self.venues.values())

    @property
    def returned(self) -> int:
        return sum(v["returned"] for v in self.venues.values())

    @property
    def over(self) -> list[str]:
        return reconciliation(
            {n: v["issued"] for n, v in self.venues.items()},
            {n: v["returned"] for n, v in self.venues.items()},
        )


@dataclass
class Report:
    election: Election
    opened_at: str
    closed_at: str
    chair: str
    scrutineers: list[str]
    tellers: list[str]
    electorate: int | None
    excluded: list[dict[str, Any]]
    venues: dict[str, Any] | None
    recommendation: dict[str, Any] | None
    confirmed: dict[str, Any] | None
    rounds: list[RoundReport] = field(default_factory=list)
    entries: int = 0
    last_hash: str = ""
    public_key: str = ""


def make_report(session: Session, election: Election) -> Report:
    """The report of ``election`` as its record stands."""
    entries = entries_of(session, election)
    state = state_of(entries)
    results = results_of(entries)
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_kind[entry["kind"]].append(entry)
    officers = by_kind["officers"][-1]["data"] if by_kind["officers"] else {}
    chair = entries[0]["data"]["chair"]
    scrutineers, tellers = officers.get("scrutineers", []), officers.get("tellers", [])
    names = _display_names(session, [chair, *scrutineers, *tellers])
    rolls = {e["data"]["round"]: e["data"] for e in by_kind["roll"]}
    announced = {e["data"]["round"]: e["at"] for e in by_kind["announced"]}
    venues = venues_of(entries)
    rounds = [
        RoundReport(
            number=opened["round"],
            opened=opened,
            present=rolls.get(opened["round"], {}).get("present", 0),
            expected=rolls.get(opened["round"], {}).get("expected", 0),
            venues=venues.get(opened["round"], {}),
            result=results.get(str(opened["round"]), {}),
            announced_at=announced.get(opened["round"]),
        )
        for opened in (e["data"] for e in by_kind["round_opened"])
    ]
    return Report(
        election=election,
        opened_at=entries[0]["at"],
        closed_at=entries[-1]["at"],
        chair=names[chair],
        scrutineers=[names[login] for login in scrutineers],
        tellers=[names[login] for login in tellers],
        electorate=len(state.electorate) if state.electorate is not None else None,
        excluded=[e["data"] for e in by_kind["exclusion"]],
        venues=by_kind["venues"][-1]["data"] if by_kind["venues"] else None,
        recommendation=results.get("recommendation"),
        confirmed=by_kind["candidates_confirmed"][-1]["data"]
        if by_kind["candidates_confirmed"]
        else None,
        rounds=rounds,
        entries=len(entries),
        last_hash=digest(entries[-1]),
        public_key=public_key_text(record_key()),
    )


def _display_names(session: Session, logins: list[str]) -> dict[str, str]:
    """Each officer as the report names them: their account's name, and the login the record
    holds (an account since renamed or removed shows by its login alone)."""
    known = {
        user.login: user.display_name
        for user in session.scalars(select(User).where(User.login.in_(logins)))
    }
    return {
        login: f"{known[login]}（{login}）" if known.get(login, login) != login else login
        for login in logins
    }
