"""Errors of the transcode pipeline.

PlatformError (core.errors)
└── MediaError      the source cannot be probed or transcoded; `reason` is shown to the publisher
TranscodeCancelled  the transcode was stopped on request (not a failure of the source)

Every failure has a stable `code` (for translation, retries and tests); REASONS holds the
publisher-facing sentence for each, in English; it is stored on the lesson and shown
translated. TEMPORARY names the codes that are the machine's fault, not the source's: a job
that fails with one of them is tried again; every other code fails the job at once.
"""

from core.errors import PlatformError
from core.i18n import N_

REASONS: dict[str, str] = {
    "not_media": N_("This is not a recognisable audio or video file, or it is damaged."),
    "image": N_("This is a still image, not video or audio."),
    "no_streams": N_("The file has no audio or video track."),
    "zero_duration": N_("The file has zero duration: there is nothing to play."),
    "undecodable": N_(
        "The audio or video cannot be decoded: it is damaged or uses an unsupported codec."
    ),
    "truncated": N_(
        "The file is incomplete (the upload may have been cut short): upload it again."
    ),
    "transcode_failed": N_("Transcoding failed for this file."),
    "timeout": N_("Transcoding took too long and was stopped."),
    "disk_full": N_("The server ran out of disk space while transcoding."),
    "output_incomplete": N_("The transcode produced incomplete output."),
}

TEMPORARY = frozenset({"disk_full", "timeout"})


class MediaError(PlatformError):
    """A source that is not usable media, or a failed transcode, with a publisher-facing reason.

    `detail` holds technical context for operators, such as ffmpeg's last stderr lines.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.reason = REASONS[code]
        self.detail = detail
        self.temporary = code in TEMPORARY
        super().__init__(self.reason)


class TranscodeCancelled(Exception):
    """The transcode was stopped on request (its worker is stopping); the source is not at fault."""
