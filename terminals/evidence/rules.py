"""What a playback session's beats earn: the evidence rules, as a pure function of the stored
beats (in sequence order), so the outcome never depends on the order or number of deliveries.

- Only played intervals count (a seek is a gap between intervals, not played time).
- Media gained in a beat may not outrun wall-clock time: at most `max_rate` times the client
  clock advanced since the previous stored beat (counted over at most BEAT_WINDOW seconds, since
  the player beats every 10 s), plus `beat_slack`; and over the whole session at most `max_rate`
  times its clock plus `session_slack`. What exceeds is cut (the first seconds played are kept).
- The client clock is checked against the server's when a beat is stored (service.py), so a
  clock cannot claim more wall time than really passed.
- A beat sent from a hidden page earns nothing (its intervals still use up the budget).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from terminals.evidence.intervals import Interval, take_seconds, total_length

# The player beats every 10 s; a gap longer than this in the stored beats (beats lost, or a
# pause) is not allowed to carry more than this much wall time into one beat.
BEAT_WINDOW = 30.0


@dataclass(frozen=True)
class RateLimits:
    """How fast played media may run against wall-clock time."""

    max_rate: float = 2.0
    beat_slack: float = 2.0
    session_slack: float = 5.0


@dataclass(frozen=True)
class BeatEvidence:
    """One stored beat, as the rules see it."""

    seq: int
    clock: float
    visible: bool
    intervals: Sequence[Sequence[float]]


@dataclass(frozen=True)
class BeatCredit:
    """What the rules make of one beat: accepted play (counted against the budget) and the
    part of it that earns (none from a hidden page)."""

    seq: int
    accepted: list[Interval]
    credited: list[Interval]


@dataclass(frozen=True)
class SessionTally:
    """Running state after some beats: the clock of the last, media accepted so far."""

    clock: float = 0.0
    played: float = 0.0


def credit_beat(beat: BeatEvidence, before: SessionTally, limits: RateLimits) -> BeatCredit:
    """The credit of `beat`, given the tally of the beats before it in sequence order."""
    elapsed = min(max(0.0, beat.clock - before.clock), BEAT_WINDOW)
    by_beat = limits.max_rate * elapsed + limits.beat_slack
    by_session = limits.max_rate * beat.clock + limits.session_slack - before.played
    accepted = take_seconds(beat.intervals, max(0.0, min(by_beat, by_session)))
    return BeatCredit(beat.seq, accepted, accepted if beat.visible else [])


def advance(tally: SessionTally, beat: BeatEvidence, credit: BeatCredit) -> SessionTally:
    """The tally after `beat`."""
    return SessionTally(
        clock=max(tally.clock, beat.clock), played=tally.played + total_length(credit.accepted)
    )


def credit_beats(
    beats: Sequence[BeatEvidence], limits: RateLimits
) -> tuple[list[BeatCredit], SessionTally]:
    """The credit of every beat of a session (taken in sequence order) and the final tally."""
    tally = SessionTally()
    credits = []
    for beat in sorted(beats, key=lambda b: b.seq):
        credit = credit_beat(beat, tally, limits)
        credits.append(credit)
        tally = advance(tally, beat, credit)
    return credits, tally
