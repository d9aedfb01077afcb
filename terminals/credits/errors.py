"""What can go wrong with credits and study evidence."""

from core.errors import InvalidInput


class SessionEnded(InvalidInput):
    """A beat for a playback session that has ended (another one began): it earns nothing."""
