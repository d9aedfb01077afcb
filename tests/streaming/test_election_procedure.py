"""The direct vote's nine steps over the record: none skipped, nothing past the count of
attendance without a quorum, each fact recorded only by the role it belongs to and in its step,
an adjourned election frozen until resumed, a round voided (with its reason) when more ballots
come back than went out, and no ballot entered once the count is closed. Before it: the
electorate and venues (应到 derived from the electorate and its exclusions), and the
recommendation round (one set per recommender, only those who may, no more names than
allowed), whose confirmed candidates are the first round's."""

from typing import Any

import pytest

from streaming.elections.procedure import Refused, Role, State, Step, check, shaped, state_of

pytestmark = pytest.mark.engine_neutral  # pure functions

CHAIR, TELLER, SCRUTINEER, RECOMMENDER = Role.chair, Role.teller, Role.scrutineer, Role.recommender


def record(*facts: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"kind": kind, "data": data} for kind, data in facts]


def step(n: int) -> tuple[str, dict[str, Any]]:
    return ("step", {"step": n})


BALLOT = {"round": 1, "number": 1, "marks": {"甲": "o"}}
ELECTORATE = ("electorate", {"members": list(range(1, 11))})
VENUES = ("venues", {"main": "主会场", "sub": [{"name": "西湾站点", "site": 4}]})


def test_steps_go_in_order_and_need_a_quorum_to_leave_the_count_of_attendance() -> None:
    state = state_of(record(step(1), ("roll", {"round": 1, "present": 40, "expected": 50})))
    with pytest.raises(Refused, match="(?i)no quorum"):  # 40 of 50 is not more than 4/5
        check(state, CHAIR, "step", {"step": 2})
    state = state_of(record(step(1), ("roll", {"round": 1, "present": 41, "expected": 50})))
    check(state, CHAIR, "step", {"step": 2})
    with pytest.raises(Refused, match="(?i)cannot be skipped"):
        check(state, CHAIR, "step", {"step": 3})
    with pytest.raises(Refused, match="Only the chair records this \\(step\\)"):
        check(state, TELLER, "step", {"step": 2})


def test_each_fact_belongs_to_a_role_and_a_step() -> None:
    counting = state_of(record(*[step(n) for n in range(1, 9)]))
    assert counting.step is Step.count
    check(counting, TELLER, "ballot", BALLOT)
    check(counting, SCRUTINEER, "settlement", BALLOT)
    with pytest.raises(Refused, match="Only a teller enters ballots"):
        check(counting, SCRUTINEER, "ballot", BALLOT)
    with pytest.raises(Refused, match="Only a scrutineer records this \\(settlement\\)"):
        check(counting, TELLER, "settlement", BALLOT)
    closed = state_of(record(*[step(n) for n in range(1, 10)]))
    with pytest.raises(Refused, match="(?i)not recorded in this step"):  # the count is closed
        check(closed, TELLER, "ballot", BALLOT)
    casting = state_of(record(*[step(n) for n in range(1, 7)]))
    with pytest.raises(Refused, match="(?i)not recorded in this step"):
        check(casting, TELLER, "ballot", BALLOT)
    attendance = state_of(record(ELECTORATE, VENUES, step(1)))
    with pytest.raises(Refused, match="(?i)reason and who consented"):
        check(attendance, CHAIR, "exclusion", {"member": 7, "reason": ""})
    check(attendance, CHAIR, "exclusion", {"member": 7, "reason": "外出务工", "author": "党员大会"})


def test_more_ballots_returned_than_issued_stops_the_count_until_the_round_is_voided() -> None:
    facts = [
        *[step(n) for n in range(1, 6)],
        ("ballots_issued", {"round": 1, "venue": "主会场", "count": 30}),
        ("ballots_issued", {"round": 1, "venue": "西湾站点", "count": 5}),
        step(6),
        step(7),
        ("ballots_returned", {"round": 1, "venue": "主会场", "count": 31}),
    ]
    state = state_of(record(*facts))
    with pytest.raises(Refused, match="(?i)more ballots returned than issued at 主会场:"):
        check(state, CHAIR, "step", {"step": 8})
    with pytest.raises(Refused, match="(?i)reason"):
        check(state, CHAIR, "round_void", {"round": 1, "reason": " "})
    void = ("round_void", {"round": 1, "reason": "收回多于发出"})
    voided = state_of(record(*facts, void))
    with pytest.raises(Refused, match="(?i)starts with the count of attendance"):
        check(voided, CHAIR, "step", {"step": 8})
    check(voided, CHAIR, "step", {"step": 1})
    again = state_of(record(*facts, void, step(1)))
    assert (again.round, again.issued, again.void) == (2, {}, False)
    with pytest.raises(Refused, match="(?i)this is round 2"):
        check(again, CHAIR, "roll", {"round": 1, "present": 1, "expected": 1})


def test_an_adjourned_election_takes_nothing_until_it_resumes() -> None:
    state = state_of(record(step(1), ("adjourned", {"reason": "休会"})))
    with pytest.raises(Refused, match="(?i)adjourned"):
        check(state, CHAIR, "roll", {"round": 1, "present": 1, "expected": 1})
    check(state, CHAIR, "resumed", {})
    assert not state_of(record(step(1), ("adjourned", {}), ("resumed", {}))).adjourned


def test_a_fact_of_the_wrong_shape_is_refused_before_the_procedure_looks_at_it() -> None:
    assert shaped("roll", {"round": 1, "present": 3, "expected": 4}) == {
        "round": 1, "present": 3, "expected": 4,
    }  # fmt: skip
    assert shaped("ballot", {"round": 1, "number": 2, "marks": {"甲": "o"}}) == {
        "round": 1, "number": 2, "marks": {"甲": "o"}, "write_ins": {},
    }  # fmt: skip
    for kind, data in (
        ("step", {"step": 1.5}),
        ("roll", {"round": 1, "present": 3}),
        ("ballot", {"round": 1, "number": 1, "marks": {"甲": "○"}}),
        ("officers", {"scrutineers": ["a"], "tellers": ["b"]}),  # two tellers, for double entry
        ("round_opened", {"round": 1, "candidates": ["甲"], "seats": 1, "extra": True}),
        ("nonsense", {}),
    ):
        with pytest.raises(Refused):
            shaped(kind, data)


def test_the_electorate_and_venues_come_first_and_the_roll_agrees_with_the_electorate() -> None:
    with pytest.raises(Refused, match="(?i)electorate and the venues are recorded before"):
        check(state_of(record(VENUES)), CHAIR, "step", {"step": 1})
    check(state_of(record(ELECTORATE, VENUES)), CHAIR, "step", {"step": 1})
    with pytest.raises(Refused, match="(?i)twice"):
        check(State(), CHAIR, "electorate", {"members": [1, 2, 1]})
    with pytest.raises(Refused, match="(?i)two venues have one name"):
        check(State(), CHAIR, "venues", {"main": "甲", "sub": [{"name": "甲"}]})
    with pytest.raises(Refused, match="(?i)before the vote's first step"):
        check(state_of(record(ELECTORATE, VENUES, step(1))), CHAIR, "electorate", ELECTORATE[1])
    exclusion = {"member": 7, "reason": "外出务工", "author": "党员大会"}
    counting = [ELECTORATE, VENUES, step(1), ("exclusion", exclusion)]
    state = state_of(record(*counting))
    assert state.entitled == 9
    with pytest.raises(Refused, match="(?i)excluded already"):
        check(state, CHAIR, "exclusion", exclusion)
    with pytest.raises(Refused, match="(?i)member 11 is not in the electorate"):
        check(state, CHAIR, "exclusion", {**exclusion, "member": 11})
    with pytest.raises(Refused, match="(?i)应到 is 9"):  # typed from memory: 10
        check(state, CHAIR, "roll", {"round": 1, "present": 8, "expected": 10})
    check(state, CHAIR, "roll", {"round": 1, "present": 8, "expected": 9})
    roll = ("roll", {"round": 1, "present": 8, "expected": 9})
    issuing = state_of(record(*counting, roll, *[step(n) for n in range(2, 6)]))
    with pytest.raises(Refused, match="(?i)东村 is not one of the election's venues"):
        check(issuing, CHAIR, "ballots_issued", {"round": 1, "venue": "东村", "count": 3})
    check(issuing, SCRUTINEER, "ballots_issued", {"round": 1, "venue": "西湾站点", "count": 3})


OPENED = ("recommendation_opened", {
    "names": 2, "weight": 1000, "extra": [{"member": 50, "weight": 500}],
})  # fmt: skip


def recommends(member: int, *names: str) -> tuple[str, dict[str, Any]]:
    return ("recommendation", {"member": member, "names": list(names)})


def test_the_recommendation_round_takes_one_set_from_each_who_may_recommend() -> None:
    with pytest.raises(Refused, match="(?i)electorate is recorded before"):
        check(State(), CHAIR, "recommendation_opened", OPENED[1])
    with pytest.raises(Refused, match="(?i)not open"):
        check(state_of(record(ELECTORATE)), RECOMMENDER, *recommends(1, "甲"))
    state = state_of(record(ELECTORATE, VENUES, OPENED, recommends(1, "甲", "乙")))
    check(state, RECOMMENDER, *recommends(2, "甲", "乙"))
    check(state, SCRUTINEER, *recommends(50, "丙"))  # an extra recommender's, on paper
    with pytest.raises(Refused, match="(?i)member 1 has given a recommendation set already"):
        check(state, RECOMMENDER, *recommends(1, "丙"))
    with pytest.raises(Refused, match="(?i)member 51 may not recommend"):
        check(state, CHAIR, *recommends(51, "甲"))
    with pytest.raises(Refused, match="(?i)at most 2 names"):
        check(state, RECOMMENDER, *recommends(3, "甲", "乙", "丙"))
    with pytest.raises(Refused, match="(?i)recommended twice"):
        check(state, RECOMMENDER, *recommends(3, "甲", "甲"))
    with pytest.raises(Refused, match="Only the chair records this \\(step\\)"):
        check(state, RECOMMENDER, "step", {"step": 1})
    with pytest.raises(Refused, match="Only an officer or the member themselves"):
        check(state, TELLER, *recommends(3, "甲"))
    with pytest.raises(Refused, match="(?i)who may recommend is settled"):
        check(state, CHAIR, *ELECTORATE)
    with pytest.raises(Refused, match="(?i)names"):  # a set with no name: refused by its shape
        shaped("recommendation", {"member": 3, "names": []})


def test_the_vote_starts_on_the_candidates_confirmed_once_the_round_has_closed() -> None:
    held = [ELECTORATE, VENUES, OPENED, recommends(1, "甲", "乙"), recommends(50, "丙")]
    with pytest.raises(Refused, match="(?i)ends with the initial candidates confirmed"):
        check(state_of(record(*held)), CHAIR, "step", {"step": 1})
    with pytest.raises(Refused, match="(?i)once the recommendation round closes"):
        check(state_of(record(*held)), CHAIR, "candidates_confirmed", {
            "candidates": ["甲"], "by": "支委会",
        })  # fmt: skip
    closed = state_of(record(*held, ("recommendation_closed", {})))
    with pytest.raises(Refused, match="(?i)not open"):
        check(closed, RECOMMENDER, *recommends(2, "甲"))
    with pytest.raises(Refused, match="(?i)not on the ranked list, or named twice: 丁"):
        check(closed, CHAIR, "candidates_confirmed", {"candidates": ["甲", "丁"], "by": "支委会"})
    with pytest.raises(Refused, match="(?i)ends with the initial candidates confirmed"):
        check(closed, CHAIR, "step", {"step": 1})
    confirmed = ("candidates_confirmed", {"candidates": ["甲", "乙", "丙"], "by": "支委会"})
    check(closed, CHAIR, *confirmed)
    voting = [*held, ("recommendation_closed", {}), confirmed, step(1)]
    voting += [("roll", {"round": 1, "present": 10, "expected": 10}), step(2), step(3), step(4)]
    state = state_of(record(*voting))
    opened = {"round": 1, "candidates": ["甲", "乙"], "seats": 1, "basis": "present"}
    with pytest.raises(Refused, match="(?i)the ones the committee confirmed"):
        check(state, CHAIR, "round_opened", opened)
    check(state, CHAIR, "round_opened", {**opened, "candidates": ["丙", "甲", "乙"]})
    with pytest.raises(Refused, match="(?i)before the vote's first step"):
        check(state, RECOMMENDER, *recommends(2, "甲"))


def test_the_count_closes_only_when_every_returned_ballot_counts() -> None:
    def entered(seq: int, author: str, number: int, mark: str) -> dict[str, Any]:
        data = {"round": 1, "number": number, "marks": {"甲": mark}}
        return {"kind": "ballot", "data": data, "seq": seq, "author": author}

    returned = ("ballots_returned", {"round": 1, "venue": "主会场", "count": 2})
    counting = [*record(*[step(n) for n in range(1, 8)], returned, step(8))]
    first = [entered(20, "teller:a", 1, "o"), entered(21, "teller:b", 1, "x")]
    with pytest.raises(Refused, match="Ballots 1 are not settled"):  # they disagree
        check(state_of(counting + first), CHAIR, "step", {"step": 9})
    settled = {"kind": "settlement", "data": first[0]["data"], "seq": 22, "author": "s:c"}
    with pytest.raises(Refused, match="1 ballots counted, 2 returned"):
        check(state_of([*counting, *first, settled]), CHAIR, "step", {"step": 9})
    second = [entered(23, "teller:a", 2, "o"), entered(24, "teller:b", 2, "o")]
    check(state_of([*counting, *first, settled, *second]), CHAIR, "step", {"step": 9})
