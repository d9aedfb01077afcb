"""Media tools: the bundled ffmpeg binary (from the imageio-ffmpeg wheel) and how to run it."""

import ctypes
import os
import signal
import sys

import imageio_ffmpeg

_PR_SET_PDEATHSIG = 1
# Transcoding is background work: on a node that also serves viewers, it yields the CPU to them.
BACKGROUND_NICENESS = 10
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def ffmpeg_exe() -> str:
    """Return the path of the ffmpeg binary shipped with imageio-ffmpeg; there is no system one."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def die_with_parent() -> None:
    """In a child process (Popen preexec_fn): be killed when the process that started it dies.

    A worker killed with SIGKILL cannot stop its ffmpeg. The orphan usually dies of SIGPIPE on
    its next progress line, but not while it is busy elsewhere (a long seek, a stalled input);
    this makes sure it never writes into the directory the retried job is about to reuse.
    """
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def background_child() -> None:
    """In a child process (Popen preexec_fn): die with the parent, and run at a lower CPU
    priority, so a transcode on an all-in-one node never starves the requests of viewers."""
    die_with_parent()
    os.nice(BACKGROUND_NICENESS)
