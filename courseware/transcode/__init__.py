"""Course ingest transcode: probe a source, plan the ladder, run one ffmpeg, write the HLS tree.

probe.py decides what the source is, ladder.py what to make of it, command.py how ffmpeg makes it,
runner.py runs it, reports progress and writes the master playlist and poster. errors.py holds
MediaError. No database and no object storage here: callers upload `TranscodeResult.files`.
"""
