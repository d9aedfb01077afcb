"""Live events: the congress procedure (congress/), and, as they come, rooms and the pass-through
forwarder, WHIP/WHEP, live packaging and elections. Procedure stays apart from media, so it is
tested without a single peer connection."""
