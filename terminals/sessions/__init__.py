"""Group sessions held at terminal sites, projected from the records their agents upload.

The sync package stores every record once, raw (site_records); this package turns them into
the rows people read and the credits members earn:

- projection.py: after a batch is stored (same transaction), every group session the batch
  touches is rebuilt from *all* stored records of that session. The result is a pure function
  of the set of records, so late, repeated or reordered uploads give the same rows as one clean
  upload. Frames are written to object storage once, under sites/{site_id}/frames/{uuid}.jpg.
- timeline.py: the rules for wall times (clock offset, plausibility, clipping to the session,
  no faster than real time) and for presence (check-in/out windows against the played time).
- awards.py: once a session has ended, each present member of the site's org subtree is
  awarded every lesson the session played to the coverage threshold, through the ledger's
  idempotent award_credit (award key lesson:{id}); a recompute only adds what is missing.
- views.py / api.py: what the site page, the site administrator's page and /api/sites/{id}/...
  show (heartbeats, playback log, roll calls, frames).
"""
