"""Shared kernel: settings, database, storage, jobs, media tools, organisations and people."""
