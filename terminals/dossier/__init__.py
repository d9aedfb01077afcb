"""A site's whole picture, for the people who answer for it: the org admin's site page (the
record with its devices, administrators, photos, assignments, what its disk holds, heartbeats,
group sessions and proof-of-play frames, and the moves made from it) and the site
administrator's own page. It reads sites, sync and sessions, so it sits above all three."""
