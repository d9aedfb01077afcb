"""The congress procedure's rules (streaming/congress/rules.py): 应到, 实到 and the quorum with
excused migrant members and observers, a motion's count against the roll at the vote, and the
speaking queue's order."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from streaming.congress.rules import (
    QUORUMS,
    Choice,
    Level,
    SpeakingQueue,
    Voter,
    count_votes,
    more_than,
    roll_call,
)

pytestmark = pytest.mark.engine_neutral  # pure rules; no database or queue


def members(present: int, absent: int, start: int = 1) -> list[Voter]:
    return [Voter(n, present=n < start + present) for n in range(start, start + present + absent)]


def test_a_grassroots_meeting_needs_more_than_four_fifths() -> None:
    grassroots = QUORUMS[Level.grassroots]
    assert roll_call(members(40, 10), grassroots) == roll_call(members(40, 10), Fraction(4, 5))
    short = roll_call(members(40, 10), grassroots)  # exactly 4/5 is not more than 4/5
    assert (short.expected, short.present, short.required, short.quorate) == (50, 40, 41, False)
    assert roll_call(members(41, 9), grassroots).quorate
    county = roll_call(members(26, 24), QUORUMS[Level.county])
    assert (county.required, county.quorate) == (26, True)
    assert not roll_call(members(25, 25), QUORUMS[Level.county]).quorate


def test_excused_migrants_leave_the_expected_count_and_observers_count_nowhere() -> None:
    roll = members(41, 7)
    roll += [Voter(100, excused=True), Voter(101, excused=True)]  # working far from home
    roll += [Voter(200, eligible=False, present=True)]  # an observer
    figures = roll_call(roll, QUORUMS[Level.grassroots])
    assert (figures.expected, figures.present, figures.quorate) == (48, 41, True)
    assert not roll_call([], QUORUMS[Level.grassroots]).quorate  # nobody expected: no meeting
    with pytest.raises(InvalidInput, match="twice"):
        roll_call([Voter(1), Voter(1, present=True)], QUORUMS[Level.county])


@given(
    share=st.fractions(min_value=0, max_value=1, max_denominator=20),
    expected=st.integers(0, 10_000),
)
def test_more_than_is_the_least_whole_number_above(share: Fraction, expected: int) -> None:
    required = more_than(share, expected)
    assert required > share * expected >= required - 1


def test_a_motion_counts_the_voters_present_at_the_vote() -> None:
    roll = members(10, 2) + [Voter(50, excused=True, present=True), Voter(60, eligible=False)]
    ballots = {n: Choice.in_favour for n in range(1, 6)} | {6: Choice.against, 7: Choice.abstain}
    tally = count_votes(roll, ballots)
    assert (tally.in_favour, tally.against, tally.abstain) == (5, 1, 1)
    assert (tally.not_voting, tally.present, tally.carried) == (3, 10, False)  # 5 of 10 is half
    assert count_votes(roll, ballots | {8: Choice.in_favour}).carried
    for outsider in (11, 50, 60, 999):  # absent, excused, an observer, not on the roll
        with pytest.raises(InvalidInput, match=str(outsider)):
            count_votes(roll, {1: Choice.in_favour, outsider: Choice.in_favour})
    assert not count_votes([], {}).carried


def test_the_speaking_queue_keeps_the_order_hands_went_up() -> None:
    queue = SpeakingQueue()
    with pytest.raises(InvalidInput, match="Nobody"):
        queue.give_floor()
    for member_id in (3, 1, 2, 1):
        queue.raise_hand(member_id)
    assert queue.waiting == [3, 1, 2]
    assert queue.give_floor() == 3 and queue.speaking == 3
    queue.raise_hand(3)  # the speaker does not queue
    assert queue.waiting == [1, 2]
    assert queue.give_floor(2) == 2 and queue.waiting == [1]  # the chair picks another
    with pytest.raises(InvalidInput, match="4"):
        queue.give_floor(4)
    queue.lower_hand(1)
    queue.end_turn()
    assert (queue.waiting, queue.speaking) == ([], None)
