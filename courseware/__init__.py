"""The course library: courses, lessons, attachments, ingest and transcode, playback URLs."""
