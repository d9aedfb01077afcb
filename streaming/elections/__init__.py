"""Livestreamed branch elections (公推直选): the count's rules and the tamper-evident record."""
