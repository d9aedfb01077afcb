"""Media tools: where the bundled ffmpeg binary lives (from the imageio-ffmpeg wheel)."""

import imageio_ffmpeg


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped with imageio-ffmpeg (there is no system ffmpeg)."""
    return imageio_ffmpeg.get_ffmpeg_exe()
