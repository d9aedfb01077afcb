"""Who is heard and seen: the active speaker's hysteresis and Last-N seating."""

import pytest

from streaming.media.selection import ActiveSpeaker, fill_slots, video_order

pytestmark = pytest.mark.engine_neutral  # pure rules; no database or queue

LOUD, SOFTER, QUIET = 20, 30, 100  # dBov below full scale: 20 is a raised voice, 100 near silence


def speak(detector: ActiveSpeaker, who: str, level: int, start: float, seconds: float) -> None:
    for tick in range(int(seconds * 50)):  # 20 ms audio packets
        detector.hear(who, start + tick / 50, level)


def test_the_loudest_voice_takes_the_floor_and_silence_changes_nothing() -> None:
    detector = ActiveSpeaker()
    speak(detector, "chair", QUIET, 0, 1)
    assert detector.update(1) is None  # room noise is nobody speaking
    speak(detector, "chair", SOFTER, 1, 1)
    assert detector.update(2) == "chair"
    speak(detector, "chair", QUIET, 2, 2)
    assert detector.update(4) == "chair"  # a pause keeps the last speaker


def test_a_challenger_needs_a_clear_margin_while_the_speaker_still_talks() -> None:
    detector = ActiveSpeaker()
    speak(detector, "chair", SOFTER, 0, 1)
    assert detector.update(1) == "chair"
    speak(detector, "chair", SOFTER, 1, 1)
    speak(detector, "member", SOFTER - 3, 1, 1)  # a little louder: no flicker
    assert detector.update(2) == "chair"
    speak(detector, "chair", SOFTER, 2, 1)
    speak(detector, "member", LOUD, 2, 1)  # 10 dB louder: a turn
    assert detector.update(3) == "member"


def test_the_speaker_who_stops_is_replaced_by_whoever_speaks_next() -> None:
    detector = ActiveSpeaker()
    speak(detector, "chair", LOUD, 0, 1)
    assert detector.update(1) == "chair"
    speak(detector, "member", SOFTER, 1, 1)
    assert detector.update(2.5) == "member"  # the chair's levels have left the window
    detector.forget("member")
    assert detector.current is None


def test_video_order_puts_spotlight_then_speaker_then_recent_then_arrivals() -> None:
    arrivals = ["a", "b", "c", "d", "e"]
    assert video_order(arrivals, "d", "e", ["b", "e"]) == ["d", "e", "b", "a", "c"]
    assert video_order(arrivals, None, None, []) == arrivals
    assert video_order(["a"], "gone", "gone", ["gone"]) == ["a"]


def test_seated_participants_keep_their_slots() -> None:
    assert fill_slots([None, None, None], ["a", "b"]) == ["a", "b", None]
    assert fill_slots(["a", "b", None], ["c", "b", "a"]) == ["a", "b", "c"]
    # "a" drops out of the top three: only its slot changes.
    assert fill_slots(["a", "b", "c"], ["d", "b", "c", "a"]) == ["d", "b", "c"]
    assert fill_slots(["a", "b"], []) == [None, None]
