"""Proof of play: a still of the lesson the site played, taken by the agent from its own copy.

The player reports what it played; the agent, not the browser, takes the picture with ffmpeg
(imageio-ffmpeg's binary) from the rendition on disk at the reported position, so a frame shows
that the site holds and played that media. A frame is a small JPEG (320 px wide) carried in its
record's body as base64, well within the record size limit, and also kept under DIR/frames/.
"""

import base64
import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from core.media import ffmpeg_exe
from terminals.agent.local.sessions import FrameMark
from terminals.agent.outbox import Outbox
from terminals.agent.state import AgentDir

FRAME_WIDTH = 320
FRAME_QUALITY = 6  # ffmpeg's JPEG scale: 2 best .. 31 worst
MAX_FRAME_BYTES = 40 * 1024  # with base64 and the body, under the 64 KB record limit
CAPTURE_TIMEOUT = 60


def rendition_playlist(agent_dir: AgentDir, lesson: dict[str, object]) -> Path:
    """The media playlist of the rendition the site holds for `lesson`."""
    rendition = lesson.get("rendition") or {}
    name = str(rendition.get("name") if isinstance(rendition, dict) else "") or "360p"
    return agent_dir.content_path(f"lessons/{lesson['id']}/hls/{name}/index.m3u8")


def grab_jpeg(playlist: Path, position: float, *, quality: int = FRAME_QUALITY) -> bytes:
    """One frame at `position` seconds of the HLS rendition at `playlist`, as a JPEG."""
    command = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-allowed_extensions", "ALL",
        "-ss", f"{max(position, 0):.3f}", "-i", str(playlist),
        "-frames:v", "1", "-vf", f"scale={FRAME_WIDTH}:-2", "-q:v", str(quality),
        "-f", "image2", "-c:v", "mjpeg", "pipe:1",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, timeout=CAPTURE_TIMEOUT, check=False)
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(done.stderr.decode(errors="replace")[-300:] or "no frame")
    return done.stdout


def capture_frame(agent_dir: AgentDir, lesson: dict[str, object], mark: FrameMark) -> int:
    """Capture the frame of `mark` and queue its record; its outbox sequence number."""
    playlist = rendition_playlist(agent_dir, lesson)
    data = grab_jpeg(playlist, mark.position)
    quality = FRAME_QUALITY
    while len(data) > MAX_FRAME_BYTES and quality < 31:
        quality = min(31, quality + 6)
        data = grab_jpeg(playlist, mark.position, quality=quality)
    name = f"{mark.session_id}-{mark.lesson_id}-{mark.mark}.jpg"
    agent_dir.frames.mkdir(parents=True, exist_ok=True)
    (agent_dir.frames / name).write_bytes(data)
    at = datetime.now(UTC)
    body = {
        "session_id": mark.session_id,
        "lesson_id": mark.lesson_id,
        "position": mark.position,
        "captured_at": at.isoformat(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "name": name,
        "mark": mark.mark,
        "media_type": "image/jpeg",
        "jpeg_base64": base64.b64encode(data).decode(),
    }
    seq, _uuid = Outbox(agent_dir.outbox_path).append_record("frame", body, occurred_at=at)
    return seq
