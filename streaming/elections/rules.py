"""The count of a direct vote (直选) as pure functions of the tellers' entries (DOMAIN.md).

A ballot carries a mark per candidate: ○ for (``"o"``), × against (``"x"``), blank to abstain
(``""``); against a candidate marked × the voter may write in another name. A ballot with more
names for (○ and write-ins) than seats is invalid. Every ballot is entered by two tellers
independently; it counts once the two entries agree, or once a scrutineer settles a
disagreement. A teller's correction is a new entry that takes the place of the one it names.

A candidate is elected with more than half of the votes of those present (实到; the basis is
configurable: those expected, 应到). When more pass than there are seats, the most votes win,
and a tie across the last seat leaves it to a run-off among the tied; seats nobody fills go to a
further round among those not elected. A round is void when more ballots come back than were
issued, at any venue or in all. The same functions recompute the results for the live tally,
for the announcement and for an offline verifier (streaming.elections.record).
"""

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from core.i18n import N_

FOR, AGAINST, ABSTAIN = "o", "x", ""
MARKS = frozenset({FOR, AGAINST, ABSTAIN})
MAJORITY = Fraction(1, 2)


class Basis(enum.StrEnum):
    """What "more than half" is of."""

    present = "present"  # 实到, DOMAIN.md's rule
    expected = "expected"  # 应到, where a region counts so


@dataclass(frozen=True)
class Ballot:
    """What one ballot says: a mark per candidate, and the names written in against a ×."""

    marks: Mapping[str, str]
    write_ins: Mapping[str, str] = field(default_factory=dict)  # against candidate -> name

    def problem(self, candidates: Iterable[str], seats: int) -> str | None:
        """Why the ballot is invalid, or None. Malformed entries are refused at entry; what is
        checked here is what a voter can get wrong on paper."""
        names = list(candidates)
        if set(self.marks) != set(names) or not set(self.marks.values()) <= MARKS:
            return N_("marks do not match the candidates")
        for against, name in self.write_ins.items():
            if self.marks.get(against) != AGAINST:
                return N_("a name written in without a × against a candidate")
            if not name.strip() or name in names:
                return N_("a written-in name that is empty or already on the ballot")
        chosen = sum(1 for mark in self.marks.values() if mark == FOR) + len(self.write_ins)
        if chosen > seats:
            return N_("more names chosen than seats")
        return None


@dataclass(frozen=True)
class Entry:
    """A teller's entry of one ballot (``number`` is the tellers' order, never a voter's), a
    scrutineer's settlement of a disagreement, or a correction of an earlier entry."""

    seq: int
    round: int
    number: int
    author: str
    ballot: Ballot
    settles: bool = False  # a scrutineer's: it decides the ballot
    corrects: int | None = None  # the seq of the author's entry it replaces


def ballot_entry(entry: Mapping[str, Any]) -> Entry:
    """A teller's ``ballot`` or a scrutineer's ``settlement`` entry, as the count reads it."""
    data = entry["data"]
    return Entry(
        seq=entry["seq"],
        round=data["round"],
        number=data["number"],
        author=entry["author"],
        ballot=Ballot(data["marks"], data.get("write_ins", {})),
        settles=entry["kind"] == "settlement",
        corrects=data.get("corrects"),
    )


@dataclass(frozen=True)
class Counted:
    """The round's ballots as the entries stand: agreed, held for a scrutineer, or waiting for
    the second teller."""

    agreed: dict[int, Ballot]
    held: list[int]
    waiting: list[int]


def count_entries(entries: Iterable[Entry], round_: int) -> Counted:
    """Each ballot of ``round_`` from its entries, in any order: a scrutineer's settlement
    decides; otherwise the two tellers' latest entries must agree."""
    latest: dict[int, dict[str, Entry]] = {}
    settled: dict[int, Entry] = {}
    replaced = {e.corrects for e in entries if e.corrects is not None and e.round == round_}
    for entry in sorted((e for e in entries if e.round == round_), key=lambda e: e.seq):
        if entry.seq in replaced:
            continue
        if entry.settles:
            settled[entry.number] = entry
        else:
            latest.setdefault(entry.number, {})[entry.author] = entry
    agreed, held, waiting = {}, [], []
    for number in sorted(set(latest) | set(settled)):
        if number in settled:
            agreed[number] = settled[number].ballot
            continue
        tellers = list(latest[number].values())
        if len(tellers) < 2:
            waiting.append(number)
        elif all(t.ballot == tellers[0].ballot for t in tellers[1:]):
            agreed[number] = tellers[0].ballot
        else:
            held.append(number)
    return Counted(agreed, held, waiting)


@dataclass(frozen=True)
class Tally:
    """A round's count: votes for each candidate and written-in name, valid and invalid ballots
    (with why), and who is elected or goes to a run-off."""

    votes: dict[str, int]
    write_ins: dict[str, int]
    valid: int
    invalid: dict[int, str]
    threshold: int  # the fewest votes that are more than half
    elected: list[str]
    runoff: list[str]
    unfilled: int

    def as_dict(self) -> dict[str, object]:
        return {
            "votes": dict(sorted(self.votes.items())),
            "write_ins": dict(sorted(self.write_ins.items())),
            "valid": self.valid,
            "invalid": {str(n): why for n, why in sorted(self.invalid.items())},
            "threshold": self.threshold,
            "elected": self.elected,
            "runoff": self.runoff,
            "unfilled": self.unfilled,
        }


def more_than_half(of: int) -> int:
    return of // 2 + 1


def tally(
    ballots: Mapping[int, Ballot],
    candidates: list[str],
    seats: int,
    *,
    present: int,
    expected: int,
    basis: Basis = Basis.present,
) -> Tally:
    """The round's result from its agreed ballots (written-in names count, and win, alike)."""
    votes: Counter[str] = Counter({name: 0 for name in candidates})
    written: Counter[str] = Counter()
    invalid: dict[int, str] = {}
    for number, ballot in sorted(ballots.items()):
        problem = ballot.problem(candidates, seats)
        if problem is not None:
            invalid[number] = problem
            continue
        votes.update(name for name, mark in ballot.marks.items() if mark == FOR)
        written.update(ballot.write_ins.values())
    threshold = more_than_half(present if basis is Basis.present else expected)
    standing = sorted(
        ((count, name) for name, count in (votes + written).items() if count >= threshold),
        key=lambda pair: (-pair[0], pair[1]),
    )
    elected, runoff = [], []
    if len(standing) <= seats:
        elected = [name for _, name in standing]
    else:
        boundary = standing[seats - 1][0] if seats else None
        elected = [name for count, name in standing if boundary is not None and count > boundary]
        tied = [name for count, name in standing if count == boundary]
        if len(elected) + len(tied) <= seats:
            elected += tied
        else:
            runoff = tied
    return Tally(
        votes=dict(votes),
        write_ins=dict(written),
        valid=len(ballots) - len(invalid),
        invalid=invalid,
        threshold=threshold,
        elected=elected,
        runoff=runoff,
        unfilled=seats - len(elected),
    )


def reconciliation(issued: Mapping[str, int], returned: Mapping[str, int]) -> list[str]:
    """The venues (and ``"total"``) where more ballots came back than were issued: any one
    voids the round."""
    over = [v for v in sorted(set(issued) | set(returned)) if returned.get(v, 0) > issued.get(v, 0)]
    if sum(returned.values()) > sum(issued.values()):
        over.append("total")
    return over


PER_MILLE = 1000
"""A recommender's weight is in thousandths (1000: one whole recommendation), so that a weight
of a half or a third stays an integer on the record."""


@dataclass(frozen=True)
class Ranked:
    """A name on the recommendation round's ranked list: its weighted total, how many sets
    named it, and its rank (tied names share one: 1, 2, 2, 4)."""

    name: str
    weight: int  # per mille
    sets: int
    rank: int

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "weight": self.weight, "sets": self.sets, "rank": self.rank}


def recommender_weights(electorate: Iterable[int], opened: Mapping[str, Any]) -> dict[int, int]:
    """Who may recommend in a round opened with ``opened`` (its ``recommendation_opened``
    fact), with the weight of their set: each voter the round's, each extra recommender their
    own."""
    weights = dict.fromkeys(electorate, opened["weight"])
    weights.update({extra["member"]: extra["weight"] for extra in opened["extra"]})
    return weights


def rank(sets: Iterable[tuple[int, Iterable[str]]]) -> list[Ranked]:
    """The recommendation round's ranked list from its sets (each the recommender's weight and
    the names it recommends): every set gives its weight to each name once; most weight
    first, then by name in code point order, which only orders a tie: tied names share their
    rank, so a tie shows as one."""
    weights: Counter[str] = Counter()
    named: Counter[str] = Counter()
    for weight, names in sets:
        for name in set(names):
            weights[name] += weight
            named[name] += 1
    ordered = sorted(weights, key=lambda name: (-weights[name], name))
    ranked: list[Ranked] = []
    for position, name in enumerate(ordered, start=1):
        tied = bool(ranked) and ranked[-1].weight == weights[name]
        place = ranked[-1].rank if tied else position
        ranked.append(Ranked(name, weights[name], named[name], place))
    return ranked
