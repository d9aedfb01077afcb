"""Sets of media time as sorted, disjoint [start, end) intervals in seconds (JSON-friendly
lists of two floats), and the few operations evidence needs on them."""

from collections.abc import Iterable, Sequence

Interval = tuple[float, float]


def merge_intervals(intervals: Iterable[Sequence[float]]) -> list[Interval]:
    """The union of `intervals`, sorted and disjoint; touching intervals become one, empty and
    reversed ones are dropped."""
    spans = sorted((float(a), float(b)) for a, b in intervals if b > a)
    merged: list[Interval] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def total_length(intervals: Iterable[Sequence[float]]) -> float:
    """Seconds covered by `intervals`, each counted as given (overlaps counted twice)."""
    return sum(max(0.0, float(b) - float(a)) for a, b in intervals)


def take_seconds(intervals: Iterable[Sequence[float]], budget: float) -> list[Interval]:
    """The first `budget` seconds of `intervals` in the order given (the order they were
    played): whole intervals while they fit, then the start of the one that does not."""
    kept: list[Interval] = []
    left = max(0.0, budget)
    for a, b in intervals:
        start, end = float(a), float(b)
        if end <= start:
            continue
        if left <= 0:
            break
        end = min(end, start + left)
        kept.append((start, end))
        left -= end - start
    return kept


def as_json(intervals: Iterable[Interval]) -> list[list[float]]:
    """Intervals as stored in JSON columns, rounded to the millisecond."""
    return [[round(a, 3), round(b, 3)] for a, b in intervals]
