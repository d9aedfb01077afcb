"""HLS playlist rewriting: point relative URIs at direct (presigned) object URLs."""

import re
from collections.abc import Callable

_URI_ATTRIBUTE = re.compile(r'URI="([^"]+)"')


def rewrite_playlist(text: str, direct_url: Callable[[str], str | None]) -> str:
    """Replace each relative URI with `direct_url(uri)`; keep it when that gives None.

    Playlists (.m3u8) keep pointing at the app so they are always checked against the viewer's
    rights; media files (segments, init sections) become direct links to the store or CDN.
    """

    def resolve(uri: str) -> str:
        if "://" in uri or uri.endswith(".m3u8"):
            return uri
        return direct_url(uri) or uri

    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            line = _URI_ATTRIBUTE.sub(lambda m: f'URI="{resolve(m.group(1))}"', line)
        elif line.strip():
            line = resolve(line.strip())
        lines.append(line)
    return "\n".join(lines) + "\n"
