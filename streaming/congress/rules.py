"""The congress procedure as pure functions of the roll and the ballots (../shared/DOMAIN.md):
who is expected (应到) and present (实到), whether the quorum stands, how a motion's vote counts,
and the order of the speaking queue. No database and no media: rooms, pages and minutes call
these with what they hold.

Quorum: more than 4/5 of those entitled to vote for a grassroots congress or members' meeting,
more than half at county level and above (both configurable). A voter the meeting excused (a
migrant member who cannot attend, by the meeting's consent) is left out of 应到; an observer
holds no vote and counts nowhere. "More than" a share is strict: 40 of 50 is not more than 4/5.
"""

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from core.errors import InvalidInput
from core.i18n import N_


class Level(enum.StrEnum):
    """Where a meeting sits; its quorum rule follows."""

    grassroots = "grassroots"  # a branch's members' meeting, a grassroots congress
    county = "county"  # county level and above


QUORUMS: dict[Level, Fraction] = {Level.grassroots: Fraction(4, 5), Level.county: Fraction(1, 2)}
# A motion is carried by more than this share of the voters present at the vote.
MAJORITY = Fraction(1, 2)


@dataclass(frozen=True)
class Voter:
    """One person on the roll as the rules see them."""

    member_id: int
    eligible: bool = True  # holds a vote at this meeting (an observer does not)
    excused: bool = False  # left out of 应到 by the meeting's consent
    present: bool = False  # here: in the room, remote, or on a sub-venue's roll


@dataclass(frozen=True)
class Roll:
    """The roll call's figures, shown live beside the meeting."""

    expected: int  # 应到
    present: int  # 实到
    required: int  # the fewest present for a quorum
    quorate: bool


def more_than(share: Fraction, of: int) -> int:
    """The least whole number greater than `share` of `of`."""
    return share.numerator * of // share.denominator + 1


def _counted(voters: Iterable[Voter]) -> list[Voter]:
    """The voters in 应到, each once (a member on the roll twice is refused)."""
    roll = list(voters)
    seen = Counter(voter.member_id for voter in roll)
    twice = sorted(member_id for member_id, times in seen.items() if times > 1)
    if twice:
        raise InvalidInput(N_("Member %(id)s is on the roll twice."), id=twice[0])
    return [voter for voter in roll if voter.eligible and not voter.excused]


def roll_call(voters: Iterable[Voter], quorum: Fraction) -> Roll:
    """应到, 实到 and whether more than `quorum` of 应到 is present."""
    counted = _counted(voters)
    present = sum(1 for voter in counted if voter.present)
    required = more_than(quorum, len(counted))
    return Roll(len(counted), present, required, bool(counted) and present >= required)


class Choice(enum.StrEnum):
    """A voter's answer to a motion."""

    in_favour = "for"
    against = "against"
    abstain = "abstain"


@dataclass(frozen=True)
class Tally:
    """A motion's count, against the roll at the time of the vote."""

    in_favour: int
    against: int
    abstain: int
    not_voting: int  # voters present who answered nothing
    present: int  # voters present at the vote
    carried: bool


def count_votes(roll: Iterable[Voter], ballots: Mapping[int, Choice]) -> Tally:
    """Count the ballots (by member id) of a motion. Only voters in 应到 who are present may
    vote; a ballot from anyone else is refused, so a count never includes one."""
    voting = {voter.member_id for voter in _counted(roll) if voter.present}
    strangers = sorted(set(ballots) - voting)
    if strangers:
        raise InvalidInput(N_("Member %(id)s may not vote on this motion."), id=strangers[0])
    counts = Counter(Choice(choice) for choice in ballots.values())
    in_favour = counts[Choice.in_favour]
    return Tally(
        in_favour=in_favour,
        against=counts[Choice.against],
        abstain=counts[Choice.abstain],
        not_voting=len(voting) - len(ballots),
        present=len(voting),
        carried=bool(voting) and in_favour >= more_than(MAJORITY, len(voting)),
    )


@dataclass
class SpeakingQueue:
    """Hands raised, in the order they went up; the chair gives the floor to one of them (the
    first, unless the chair picks another) and takes it back when the turn ends."""

    waiting: list[int] = field(default_factory=list)
    speaking: int | None = None

    def raise_hand(self, member_id: int) -> None:
        """Join the queue (once; the speaker does not queue)."""
        if member_id != self.speaking and member_id not in self.waiting:
            self.waiting.append(member_id)

    def lower_hand(self, member_id: int) -> None:
        """Leave the queue."""
        if member_id in self.waiting:
            self.waiting.remove(member_id)

    def give_floor(self, member_id: int | None = None) -> int:
        """The floor to `member_id`, or to the first hand up; the speaker before stops."""
        if not self.waiting:
            raise InvalidInput(N_("Nobody has asked to speak."))
        chosen = self.waiting[0] if member_id is None else member_id
        if chosen not in self.waiting:
            raise InvalidInput(N_("Member %(id)s has not asked to speak."), id=chosen)
        self.waiting.remove(chosen)
        self.speaking = chosen
        return chosen

    def end_turn(self) -> None:
        """The speaker's time is over (or the chair took the floor back)."""
        self.speaking = None
