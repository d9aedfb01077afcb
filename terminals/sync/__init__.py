"""The offline sync protocol between the platform and a site's agent (server side).

All routes are JSON under /api/terminal/ and are listed in the OpenAPI document. Except for
enrolment and the public key, each request carries the device token as `Authorization: Bearer
TOKEN`; an unknown or revoked token gets 401, a suspended site 403, and a device reaches only
its own site's data.

1. Enrolment. `POST /api/terminal/enrol {"code", "hostname", "agent_version"}` exchanges a site's
   one-time code (kept as a SHA-256 hash, cleared once used, refused once expired) for
   `{"token", "device_id", "site", "public_key", "key_id"}`. The token is random, shown only in
   this answer and stored as its SHA-256. Enrolling a site again revokes its earlier devices (token
   rotation); the site becomes active. The agent pins `public_key`.
2. Heartbeat. `POST /api/terminal/heartbeat {"powered_on_at", "now_playing", "disk_free_bytes",
   "agent_version", "last_sync_at", "sent_at"}` is kept as history (site_heartbeats) and moves the
   device's last_seen_at (terminals.sites.presence turns that into online/offline). The answer
   gives the server's clock.
3. Manifest. `GET /api/terminal/manifest` answers an envelope `{"algorithm": "ed25519", "key_id",
   "payload", "signature"}`: `payload` is the manifest's JSON bytes in base64 and `signature` the
   Ed25519 signature of exactly those bytes. The key is derived from the platform secret
   (purpose "terminal-manifest"); its public half is given at enrolment and at
   `GET /api/terminal/key`. The manifest names the site and `issued_at`; the agent refuses a bad
   signature, another site's manifest, and one older than the last it accepted. It lists each
   assigned lesson (id, title, course, duration, credit hours, the rendition of the site's tier)
   and each file (path, size, SHA-256, URL). Digests come from the lesson file index
   (file_index.py), computed once per lesson version: by a background job asked for when the
   content is assigned (tasks.py), or else by the first manifest that lists the lesson.
   `player.files` lists the web player's static files (player.py: the site's local player is
   the server's own), and `roster` the
   active members of the site's org subtree with a per-site check value of each member's
   check-in code (roster.py, core.people.checkin), for the roll call offline.
4. Files. A URL is presigned on S3; with the local store it is `GET /api/terminal/files/{path}`,
   which needs the device token, serves only files of the site's manifest, and honours Range.
5. Records. `POST /api/terminal/records {"agent_id", "sent_at", "records": [{"uuid", "seq",
   "kind", "occurred_at", "body"}]}` stores a batch in one transaction: each record once by its
   UUID (a replay is acknowledged, a changed replay refuses the batch), and answers `{"high_water",
   "stored", "duplicates", "flagged"}`: every record of the agent up to `high_water` is stored.
   Limits: sync_max_batch_records, sync_max_record_bytes, sync_max_batch_bytes (413); malformed
   JSON or an unknown kind is 422; a body that fails its kind's schema is 400. A record more than
   sync_max_clock_skew_seconds in the future is stored flagged "future" (records.py says why).
   The route is terminals.sessions' (intake.py): in the same transaction it projects what the
   batch adds into group sessions, roll calls and credits.
6. Holdings. `PUT /api/terminal/holdings {"manifest_issued_at", "lessons": [{"lesson_id",
   "files_held", "files_total", "bytes_held", "bytes_total", "no_room"}]}`, sent after a sync's
   downloads, replaces what the site is known to hold (terminals.sites.holdings).

The agent side is terminals.agent.
"""
