"""Study evidence from the web player: playback sessions and the beats they send."""
