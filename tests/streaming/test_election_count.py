"""The count of a direct vote: invalid ballots, the majority of those present, a tie across the
last seat, unfilled seats, double entry with settlements and corrections, the reconciliation;
the recommendation round's ranked list (weights, ties); and the record: any changed, moved or
missing byte of an export is found and its entry named, the ranked list is recomputed, and a
confirmation or a first round that departs from it is named."""

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaming.elections.live import standing
from streaming.elections.record import layout, make_record, results_of, verify
from streaming.elections.rules import (
    AGAINST,
    FOR,
    Ballot,
    Basis,
    Entry,
    Ranked,
    count_entries,
    rank,
    reconciliation,
    tally,
)

pytestmark = pytest.mark.engine_neutral  # pure functions: no database or queue

NAMES = ["王", "李", "张"]


def ballot(marks: str, write_ins: dict[str, str] | None = None) -> Ballot:
    """A ballot from a string of marks in NAMES' order: o for, x against, - blank."""
    return Ballot(
        {
            name: {"o": FOR, "x": AGAINST, "-": ""}[mark]
            for name, mark in zip(NAMES, marks, strict=False)
        },
        write_ins or {},
    )


def test_a_ballot_with_more_names_than_seats_or_a_write_in_without_a_cross_is_invalid() -> None:
    assert ballot("oo-").problem(NAMES, 2) is None
    assert ballot("ooo").problem(NAMES, 2) == "more names chosen than seats"
    assert ballot("oox", {"张": "赵"}).problem(NAMES, 2) == "more names chosen than seats"
    assert ballot("o-x", {"张": "赵"}).problem(NAMES, 2) is None
    assert "without a ×" in str(ballot("o--", {"张": "赵"}).problem(NAMES, 2))


def test_the_majority_is_of_those_present_and_a_tie_on_the_last_seat_goes_to_a_runoff() -> None:
    ballots = {n: ballot(m) for n, m in enumerate(["oo-", "oo-", "o-o", "-oo", "o-o"], start=1)}
    # 王 5, 李 3, 张 3 of 5 present: more than half is 3; two seats, a tie for the second.
    result = tally(ballots, NAMES, 2, present=5, expected=6)
    assert (result.threshold, result.elected, result.runoff, result.unfilled) == (
        3,
        ["王"],
        ["张", "李"],
        1,
    )
    # Counted against 应到 (6), 3 is not more than half: only 王 is elected, a seat is unfilled.
    by_expected = tally(ballots, NAMES, 2, present=5, expected=7, basis=Basis.expected)
    assert (by_expected.threshold, by_expected.elected, by_expected.runoff) == (4, ["王"], [])
    invalid = tally({1: ballot("ooo"), 2: ballot("o--")}, NAMES, 2, present=2, expected=2)
    assert (invalid.valid, invalid.invalid, invalid.votes["王"]) == (
        1,
        {1: "more names chosen than seats"},
        1,
    )


def test_double_entry_agrees_or_is_held_and_a_scrutineer_settles_it() -> None:
    entries = [
        Entry(1, 1, 1, "teller-a", ballot("o--")),
        Entry(2, 1, 1, "teller-b", ballot("o--")),
        Entry(3, 1, 2, "teller-a", ballot("-o-")),
        Entry(4, 1, 2, "teller-b", ballot("--o")),  # a disagreement: held
        Entry(5, 1, 3, "teller-a", ballot("oo-")),  # the second teller has not entered it yet
    ]
    counted = count_entries(entries, 1)
    assert (list(counted.agreed), counted.held, counted.waiting) == ([1], [2], [3])
    # teller-b corrects its entry of ballot 2: a new entry, the old one stays in the record.
    corrected = [*entries, Entry(6, 1, 2, "teller-b", ballot("-o-"), corrects=4)]
    assert count_entries(corrected, 1).agreed[2] == ballot("-o-")
    settled = [*entries, Entry(6, 1, 2, "scrutineer", ballot("--o"), settles=True)]
    assert count_entries(settled, 1).agreed[2] == ballot("--o")
    assert count_entries(list(reversed(settled)), 1) == count_entries(settled, 1)


def test_more_ballots_returned_than_issued_voids_the_round() -> None:
    assert reconciliation({"主会场": 50, "村站点": 20}, {"主会场": 50, "村站点": 19}) == []
    assert reconciliation({"主会场": 50, "村站点": 20}, {"主会场": 51, "村站点": 10}) == ["主会场"]
    assert reconciliation({"主会场": 50}, {"主会场": 50, "村站点": 1}) == ["村站点", "total"]


def facts(ballots: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """A round: opened, its roll, and each ballot entered by two tellers."""
    made = [
        {"at": "2026-11-29T02:00:00Z", "kind": "round_opened", "author": "chair",
         "data": {"round": 1, "candidates": NAMES, "seats": 2, "basis": "present"}},
        {"at": "2026-11-29T02:01:00Z", "kind": "roll", "author": "chair",
         "data": {"round": 1, "present": len(ballots), "expected": len(ballots) + 1}},
    ]  # fmt: skip
    for number, (first, second) in enumerate(ballots, start=1):
        for teller, marks in (("teller-a", first), ("teller-b", second)):
            data = {"round": 1, "number": number, "marks": ballot(marks).marks}
            made.append(
                {"at": "2026-11-29T02:10:00Z", "kind": "ballot", "author": teller, "data": data}
            )
    return made


KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ELECTION = {"id": 7, "title": "马家村党支部委员会选举", "org": "马家村党支部"}


def recommending(*sets: tuple[int, list[str]], confirmed: list[str]) -> list[dict[str, Any]]:
    """A recommendation round among members 1-4, with member 9 recommending at half weight;
    each set is (member, names)."""
    opened = {"names": 3, "weight": 1000, "extra": [{"member": 9, "weight": 500}]}
    made = [("electorate", {"members": [1, 2, 3, 4]}), ("recommendation_opened", opened)]
    made += [("recommendation", {"member": member, "names": names}) for member, names in sets]
    made += [("recommendation_closed", {}),
             ("candidates_confirmed", {"candidates": confirmed, "by": "支委会"})]  # fmt: skip
    return [
        {"at": "2026-11-28T02:00:00Z", "kind": kind, "author": "chair", "data": data}
        for kind, data in made
    ]


ROUND = ((1, ["王", "李"]), (2, ["王", "张"]), (9, ["李", "赵"]), (3, ["张"]))


def record(ballots: list[tuple[str, str]]) -> dict[str, Any]:
    made = [*recommending(*ROUND, confirmed=NAMES), *facts(ballots)]
    announced = results_of(make_record(ELECTION, made, KEY)["entries"])["1"]
    made.append({"at": "2026-11-29T03:00:00Z", "kind": "announced", "author": "chair",
                 "data": {"round": 1, "result": announced}})  # fmt: skip
    return make_record(ELECTION, made, KEY, every=3)


def test_an_intact_record_verifies_and_its_results_are_the_count() -> None:
    document = record([("oo-", "oo-"), ("o-o", "o-o"), ("-oo", "-o-")])
    assert verify(layout(document)) is None
    result = document["results"]["1"]
    # The third ballot is held (the tellers disagree); 3 present: more than half is 2.
    assert (result["votes"], result["held"]) == ({"王": 2, "李": 1, "张": 1}, [3])
    assert (result["threshold"], result["elected"], result["unfilled"]) == (2, ["王"], 1)


def test_an_announcement_the_ballots_do_not_give_is_named() -> None:
    made = facts([("oo-", "oo-")])
    made.append({"at": "2026-11-29T03:00:00Z", "kind": "announced", "author": "chair",
                 "data": {"round": 1, "result": {"elected": ["张"]}}})  # fmt: skip
    problem = verify(layout(make_record(ELECTION, made, KEY)))
    assert problem is not None and problem.entry == len(made) + 1  # after the election's entry
    other = Ed25519PrivateKey.from_private_bytes(bytes(32))
    forged = make_record(ELECTION, facts([("oo-", "oo-")]), other)
    forged["public_key"] = record([("oo-", "oo-")])["public_key"]
    problem = verify(layout(forged))
    assert problem is not None and problem.part == "checkpoint 1"


SAMPLE = layout(record([("oo-", "oo-"), ("o-o", "o-o"), ("-oo", "-o-"), ("--o", "--o")]))
LINES = SAMPLE.split(b"\n")
FIRST_ENTRY = next(n for n, line in enumerate(LINES) if line.endswith(b'"entries":[')) + 1


def entry_at(offset: int) -> int | None:
    """The seq of the entry whose line holds byte ``offset`` of SAMPLE (its newline included)."""
    line = SAMPLE.count(b"\n", 0, offset)
    last = next(n for n, text in enumerate(LINES) if text == b'],"checkpoints":[')
    return line - FIRST_ENTRY + 1 if FIRST_ENTRY <= line < last else None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    offset=st.integers(0, len(SAMPLE) - 1),
    change=st.sampled_from(["flip", "delete", "insert"]),
    byte=st.integers(0, 255),
)
def test_any_changed_missing_or_added_byte_fails_and_names_its_entry(
    offset: int, change: str, byte: int
) -> None:
    if change == "flip":
        if SAMPLE[offset] == byte:
            return
        altered = SAMPLE[:offset] + bytes([byte]) + SAMPLE[offset + 1 :]
    elif change == "delete":
        altered = SAMPLE[:offset] + SAMPLE[offset + 1 :]
    else:
        altered = SAMPLE[:offset] + bytes([byte]) + SAMPLE[offset:]
    problem = verify(altered)
    assert problem is not None
    seq = entry_at(offset)
    if seq is not None and SAMPLE[offset : offset + 1] != b"\n":
        assert problem.entry == seq, (problem, seq, SAMPLE[offset - 20 : offset + 20])


def test_entries_moved_or_removed_are_found() -> None:
    document = json.loads(SAMPLE)
    swapped = json.loads(SAMPLE)
    swapped["entries"][2], swapped["entries"][3] = document["entries"][3], document["entries"][2]
    assert verify(layout(swapped)) is not None
    removed = json.loads(SAMPLE)
    del removed["entries"][4]
    problem = verify(layout(removed))
    assert problem is not None and problem.entry == 5


MARKINGS = st.sampled_from(["oo-", "o-o", "-oo", "o--", "ooo", "x-o", "---"])


@settings(max_examples=150, deadline=None)
@given(
    ballots=st.lists(st.tuples(MARKINGS, MARKINGS, st.booleans(), st.booleans()), max_size=12),
    order=st.randoms(use_true_random=False),
)
def test_the_count_is_the_same_whatever_order_the_entries_arrive_in(
    ballots: list[tuple[str, str, bool, bool]], order: Any
) -> None:
    """Each ballot: two tellers' marks, maybe a duplicate entry, maybe a scrutineer's settlement."""
    entries: list[Entry] = []
    for number, (first, second, duplicate, settle) in enumerate(ballots, start=1):
        entries.append(Entry(len(entries) + 1, 1, number, "teller-a", ballot(first)))
        entries.append(Entry(len(entries) + 1, 1, number, "teller-b", ballot(second)))
        if duplicate:
            entries.append(Entry(len(entries) + 1, 1, number, "teller-b", ballot(second)))
        if settle:
            entries.append(
                Entry(len(entries) + 1, 1, number, "scrutineer", ballot(first), settles=True)
            )
    shuffled = list(entries)
    order.shuffle(shuffled)
    counted = count_entries(entries, 1)
    assert count_entries(shuffled, 1) == counted
    agreed = {n for n, (a, b, _, settle) in enumerate(ballots, start=1) if a == b or settle}
    assert (
        set(counted.agreed) == agreed
        and set(counted.held) == set(range(1, len(ballots) + 1)) - agreed
    )
    present = len(ballots)
    assert tally(counted.agreed, NAMES, 2, present=present, expected=present) == tally(
        count_entries(shuffled, 1).agreed, NAMES, 2, present=present, expected=present
    )


def test_the_ranked_list_weighs_each_set_and_shows_ties_as_ties() -> None:
    ranked = rank([(1000, ["甲", "乙"]), (1000, ["乙", "丙"]), (500, ["丙", "丁"]), (500, ["丁"])])
    assert ranked == [
        Ranked("乙", 2000, 2, 1),
        Ranked("丙", 1500, 2, 2),
        Ranked("丁", 1000, 2, 3),  # two half-weight sets: as much as one voter's
        Ranked("甲", 1000, 1, 3),  # tied with 丁: the same rank, ordered by name
    ]
    assert [r.rank for r in rank([(1000, ["b"]), (1000, ["a"]), (1, ["c"])])] == [1, 1, 3]
    assert rank([(1000, ["甲", "甲"])]) == [Ranked("甲", 1000, 1, 1)]  # once per set
    assert rank([]) == []


def test_the_record_recomputes_the_ranked_list_and_what_is_confirmed_from_it() -> None:
    document = record([("oo-", "oo-")])
    assert verify(layout(document)) is None
    assert document["results"]["recommendation"]["sets"] == 4
    ranking = document["results"]["recommendation"]["ranking"]
    assert [(r["name"], r["weight"], r["rank"]) for r in ranking] == [
        ("张", 2000, 1), ("王", 2000, 1), ("李", 1500, 3), ("赵", 500, 4),
    ]  # fmt: skip
    # A second set from member 1, or a set from someone the round did not name, counts nothing.
    extra = recommending(*ROUND, (1, ["赵"]), (8, ["赵"]), confirmed=NAMES)
    again = make_record(ELECTION, extra, KEY)["results"]["recommendation"]
    assert again == document["results"]["recommendation"]
    # Results that change the ranked list are found, although every entry is intact.
    changed = json.loads(layout(document))
    changed["results"]["recommendation"]["ranking"][0]["weight"] = 3000
    problem = verify(layout(changed))
    assert problem is not None and problem.part == "results"
    # A name confirmed that nobody recommended, and a first round on other names: each named.
    made = recommending(*ROUND, confirmed=["王", "钱"])
    problem = verify(layout(make_record(ELECTION, made, KEY)))
    assert problem is not None and problem.entry == len(made) + 1
    assert "ranked list" in problem.what
    made = [*recommending(*ROUND, confirmed=["王", "李"]), *facts([("oo-", "oo-")])]
    problem = verify(layout(make_record(ELECTION, made, KEY)))
    opened = next(
        e for e in make_record(ELECTION, made, KEY)["entries"] if e["kind"] == "round_opened"
    )
    assert problem is not None and problem.entry == opened["seq"]
    assert "other candidates" in problem.what


@settings(max_examples=60, deadline=None)
@given(
    ballots=st.lists(
        st.tuples(MARKINGS, MARKINGS, st.booleans(), st.sampled_from(["", "settle", "correct"])),
        max_size=10,
    ),
    order=st.randoms(use_true_random=False),
)
def test_the_live_the_announced_and_the_verified_count_are_one_whatever_the_order(
    ballots: list[tuple[str, str, bool, str]], order: Any
) -> None:
    """Each ballot: two tellers' entries, maybe the second entered twice, then maybe a
    scrutineer's settlement or the second teller's correction (to the first's reading); the
    ballots' entries interleave in any order. What the watch page shows, what the chair can
    announce and what a verifier recomputes from the export are the same count."""
    groups = []
    for number, (first, second, duplicate, then) in enumerate(ballots, start=1):
        group = [("ballot", "teller-a", number, first), ("ballot", "teller-b", number, second)]
        if duplicate:
            group.append(("ballot", "teller-b", number, second))
        if then:
            author = "scrutineer" if then == "settle" else "teller-b"
            group.append((then, author, number, first))
        groups.append(group)
    merged = []
    while any(groups):  # one ballot's entries keep their order; the ballots' interleave
        merged.append(order.choice([g for g in groups if g]).pop(0))

    def made_from(steps: list[tuple[str, str, int, str]]) -> list[dict[str, Any]]:
        present = len(ballots)
        made = [
            {"at": "2026-11-29T02:00:00Z", "kind": "step", "author": "chair", "data": {"step": 1}},
            {"at": "2026-11-29T02:00:00Z", "kind": "round_opened", "author": "chair",
             "data": {"round": 1, "candidates": NAMES, "seats": 2, "basis": "present"}},
            {"at": "2026-11-29T02:01:00Z", "kind": "roll", "author": "chair",
             "data": {"round": 1, "present": present, "expected": present}},
        ]  # fmt: skip
        seconds: dict[int, int] = {}  # ballot -> seq of the second teller's latest entry
        for kind, author, number, marks in steps:
            data: dict[str, Any] = {"round": 1, "number": number, "marks": ballot(marks).marks}
            if kind == "correct":
                data["corrects"] = seconds[number]
            if author == "teller-b":
                seconds[number] = len(made) + 2  # entry 1 describes the election
            entry_kind = "settlement" if kind == "settle" else "ballot"
            made.append(
                {"at": "2026-11-29T02:10:00Z", "kind": entry_kind, "author": author, "data": data}
            )
        return made

    made = made_from(merged)
    entries = make_record(ELECTION, made, KEY)["entries"]
    recomputed = results_of(entries)["1"]
    in_order = [
        step for group_steps in [merged] for step in sorted(group_steps, key=lambda s: s[2])
    ]
    assert results_of(make_record(ELECTION, made_from(in_order), KEY)["entries"])["1"] == recomputed
    agreed = {n for n, (a, b, _, then) in enumerate(ballots, start=1) if a == b or then}
    assert recomputed["valid"] + len(recomputed["invalid"]) == len(agreed)
    live = standing(7, entries)["tally"]
    assert live is not None
    for field in ("votes", "write_ins", "valid", "threshold", "elected", "runoff"):
        assert live[field] == recomputed[field], field
    assert (live["invalid"], live["held"]) == (len(recomputed["invalid"]), len(recomputed["held"]))
    announced = {"round": 1, "result": recomputed}
    made.append(
        {"at": "2026-11-29T03:00:00Z", "kind": "announced", "author": "chair", "data": announced}
    )
    assert verify(layout(make_record(ELECTION, made, KEY, every=4))) is None
