"""Who is heard and seen: the active speaker from audio levels, and which participants fill a
viewer's video slots and audio lanes (Last-N). Pure rules, no media, so they are tested alone.

Levels are RFC 6464 ``ssrc-audio-level`` values carried by every audio packet of a browser:
0 is the loudest (0 dBov) and 127 silence, so a lower number is a louder voice.
"""

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

SPEECH_LEVEL = 50
"""-50 dBov: quieter than this on average over the window is taken for silence or room noise."""

WINDOW = 1.0
"""Seconds of levels averaged: long enough to ride over syllables, short enough to follow a turn."""

MARGIN = 6
"""dB by which a challenger must out-speak the current speaker to take the floor early."""


@dataclass
class ActiveSpeaker:
    """The dominant speaker, changing only on a clear turn (no flicker on a cough or a reply)."""

    current: str | None = None
    _levels: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)

    def hear(self, participant: str, at: float, level: int) -> None:
        self._levels.setdefault(participant, deque()).append((at, level))

    def forget(self, participant: str) -> None:
        self._levels.pop(participant, None)
        if self.current == participant:
            self.current = None

    def loudness(self, participant: str, now: float) -> float | None:
        """Mean loudness over the window in dB above silence, or None when nothing was heard."""
        levels = self._levels.get(participant)
        if not levels:
            return None
        while levels and levels[0][0] < now - WINDOW:
            levels.popleft()
        if not levels:
            return None
        return 127 - sum(level for _, level in levels) / len(levels)

    def update(self, now: float) -> str | None:
        """Re-judge at ``now``; returns the (possibly unchanged) dominant speaker."""
        speaking = {
            participant: loudness
            for participant in list(self._levels)
            if (loudness := self.loudness(participant, now)) is not None
            and loudness >= 127 - SPEECH_LEVEL
        }
        if not speaking:
            return self.current
        loudest = max(speaking, key=lambda participant: speaking[participant])
        held = speaking.get(self.current) if self.current is not None else None
        if held is None or speaking[loudest] >= held + MARGIN:
            self.current = loudest
        return self.current


def video_order(
    publishers: Iterable[str], spotlight: str | None, speaker: str | None, recent: Sequence[str]
) -> list[str]:
    """Who deserves a video slot, best first: the spotlight, the active speaker, those who spoke
    last, then everyone else in the order they arrived."""
    present = list(publishers)
    ranked = [p for p in (spotlight, speaker, *recent) if p is not None and p in present]
    ranked += present
    return list(dict.fromkeys(ranked))


def fill_slots(current: Sequence[str | None], wanted: Sequence[str]) -> list[str | None]:
    """Seat ``wanted`` in slots, leaving everyone already seated where they are, so a viewer's
    tiles never shuffle and only the slots that really change wait for a keyframe."""
    keep = set(wanted[: len(current)])
    slots = [who if who in keep else None for who in current]
    newcomers = iter(p for p in wanted[: len(current)] if p not in slots)
    return [who if who is not None else next(newcomers, None) for who in slots]
