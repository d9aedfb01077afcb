"""Shared kernel: settings, database, object storage, jobs, media tools, organisations and people."""
