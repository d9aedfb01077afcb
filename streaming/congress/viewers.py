"""Who is watching a broadcast: the viewers whose player fetched its playlist lately. A player
reloads a live playlist every segment, so one seen within ``WINDOW`` is still watching. Kept in
the memory of the web node that serves them: with several web nodes each counts its own."""

import time
from dataclasses import dataclass, field
from typing import Any

WINDOW = 15.0


@dataclass
class Viewers:
    last_seen: dict[int, float] = field(default_factory=dict)

    def seen(self, user_id: int) -> None:
        self.last_seen[user_id] = time.monotonic()

    def count(self) -> int:
        cutoff = time.monotonic() - WINDOW
        for user_id in [u for u, at in self.last_seen.items() if at < cutoff]:
            del self.last_seen[user_id]
        return len(self.last_seen)


def viewers(state: Any, event_id: int) -> Viewers:
    """The viewers of `event_id` on this node (``state`` is the application's state)."""
    counts: dict[int, Viewers] = state.viewers
    return counts.setdefault(event_id, Viewers())
