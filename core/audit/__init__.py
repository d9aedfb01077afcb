"""The append-only audit log: who did what, where and when. Every package records through it."""
