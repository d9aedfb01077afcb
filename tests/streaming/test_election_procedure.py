"""The direct vote's nine steps over the record: none skipped, nothing past the count of
attendance without a quorum, each fact recorded only by the role it belongs to and in its step,
an adjourned election frozen until resumed, a round voided (with its reason) when more ballots
come back than went out, and no ballot entered once the count is closed."""

from typing import Any

import pytest

from streaming.elections.procedure import Refused, Role, Step, check, shaped, state_of

pytestmark = pytest.mark.engine_neutral  # pure functions

CHAIR, TELLER, SCRUTINEER = Role.chair, Role.teller, Role.scrutineer


def record(*facts: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"kind": kind, "data": data} for kind, data in facts]


def step(n: int) -> tuple[str, dict[str, Any]]:
    return ("step", {"step": n})


BALLOT = {"round": 1, "number": 1, "marks": {"甲": "o"}}


def test_steps_go_in_order_and_need_a_quorum_to_leave_the_count_of_attendance() -> None:
    state = state_of(record(step(1), ("roll", {"round": 1, "present": 40, "expected": 50})))
    with pytest.raises(Refused, match="no quorum"):  # 40 of 50 is not more than 4/5
        check(state, CHAIR, "step", {"step": 2})
    state = state_of(record(step(1), ("roll", {"round": 1, "present": 41, "expected": 50})))
    check(state, CHAIR, "step", {"step": 2})
    with pytest.raises(Refused, match="cannot be skipped"):
        check(state, CHAIR, "step", {"step": 3})
    with pytest.raises(Refused, match="a teller may not record step"):
        check(state, TELLER, "step", {"step": 2})


def test_each_fact_belongs_to_a_role_and_a_step() -> None:
    counting = state_of(record(*[step(n) for n in range(1, 9)]))
    assert counting.step is Step.count
    check(counting, TELLER, "ballot", BALLOT)
    check(counting, SCRUTINEER, "settlement", BALLOT)
    with pytest.raises(Refused, match="a scrutineer may not record ballot"):
        check(counting, SCRUTINEER, "ballot", BALLOT)
    with pytest.raises(Refused, match="a teller may not record settlement"):
        check(counting, TELLER, "settlement", BALLOT)
    closed = state_of(record(*[step(n) for n in range(1, 10)]))
    with pytest.raises(Refused, match="not recorded in this step"):  # the count is closed
        check(closed, TELLER, "ballot", BALLOT)
    casting = state_of(record(*[step(n) for n in range(1, 7)]))
    with pytest.raises(Refused, match="not recorded in this step"):
        check(casting, TELLER, "ballot", BALLOT)
    with pytest.raises(Refused, match="reason and who consented"):
        check(state_of(record(step(1))), CHAIR, "exclusion", {"member": 7, "reason": ""})
    check(
        state_of(record(step(1))),
        CHAIR,
        "exclusion",
        {"member": 7, "reason": "外出务工", "author": "党员大会"},
    )


def test_more_ballots_returned_than_issued_stops_the_count_until_the_round_is_voided() -> None:
    facts = [
        *[step(n) for n in range(1, 6)],
        ("ballots_issued", {"round": 1, "venue": "主会场", "count": 30}),
        step(6),
        step(7),
        ("ballots_returned", {"round": 1, "venue": "主会场", "count": 31}),
    ]
    state = state_of(record(*facts))
    with pytest.raises(Refused, match="more ballots returned than issued at 主会场"):
        check(state, CHAIR, "step", {"step": 8})
    with pytest.raises(Refused, match="reason"):
        check(state, CHAIR, "round_void", {"round": 1, "reason": " "})
    void = ("round_void", {"round": 1, "reason": "收回多于发出"})
    voided = state_of(record(*facts, void))
    with pytest.raises(Refused, match="starts with the count of attendance"):
        check(voided, CHAIR, "step", {"step": 8})
    check(voided, CHAIR, "step", {"step": 1})
    again = state_of(record(*facts, void, step(1)))
    assert (again.round, again.issued, again.void) == (2, {}, False)
    with pytest.raises(Refused, match="this is round 2"):
        check(again, CHAIR, "roll", {"round": 1, "present": 1, "expected": 1})


def test_an_adjourned_election_takes_nothing_until_it_resumes() -> None:
    state = state_of(record(step(1), ("adjourned", {"reason": "休会"})))
    with pytest.raises(Refused, match="adjourned"):
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
