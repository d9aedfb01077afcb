"""Security headers on every response: a Content-Security-Policy without inline script (but for
the import map, allowed by its hash), no framing, no MIME sniffing, a Referrer-Policy, and HSTS
when the site is served over https.

The policy allows what the pages need and nothing more: scripts, styles and fonts from this
site; `blob:` for the video element and the web worker hls.js builds from a blob; and, when
lessons are kept in S3, the store's public endpoint, which players fetch presigned segments
and posters from.
"""

from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings
from core.storage import parse_s3_url

HSTS_SECONDS = 365 * 24 * 3600


def media_origin(storage_url: str) -> str | None:
    """The origin browsers fetch presigned media from (S3 only; the local store is this site)."""
    if not storage_url.startswith("s3://"):
        return None
    config = parse_s3_url(storage_url)
    if config.public_endpoint is not None:
        return config.public_endpoint
    return config.endpoint_url


def security_headers(settings: Settings, *, inline_scripts: Sequence[str] = ()) -> dict[str, str]:
    """The headers every response carries, for these settings; `inline_scripts` are the CSP
    sources ('sha256-...') of the inline scripts pages may carry (the import map)."""
    media = media_origin(settings.storage_url)
    extra = f" {media}" if media else ""
    policy = "; ".join(
        (
            "default-src 'self'",
            " ".join(("script-src 'self'", *inline_scripts)),
            "style-src 'self'",
            f"img-src 'self' data: blob:{extra}",
            f"media-src 'self' blob:{extra}",
            f"connect-src 'self'{extra}",
            "worker-src 'self' blob:",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    if urlsplit(settings.base_url).scheme == "https":
        headers["Strict-Transport-Security"] = f"max-age={HSTS_SECONDS}; includeSubDomains"
    return headers


class SecurityHeaders:
    """ASGI middleware that adds `security_headers` to every HTTP response it passes on."""

    def __init__(
        self, app: ASGIApp, *, settings: Settings, inline_scripts: Sequence[str] = ()
    ) -> None:
        self.app = app
        self.headers = security_headers(settings, inline_scripts=inline_scripts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
