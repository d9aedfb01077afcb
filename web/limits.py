"""Request body limits, enforced before any route, session or login check sees the request.

Every request has a body limit: small for JSON and forms (the login form too), larger for the
routes that take files (attachments, tus upload chunks). A declared Content-Length over the limit
is refused at once with 413, without reading a byte of the body and before authentication; a
body sent without a length (chunked) is counted as it streams and cut off at the limit, and the
client gets 413 instead of whatever the route would have answered.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.i18n import N_, gettext
from core.people.roster import MAX_ROSTER_BYTES
from core.settings import Settings
from courseware.captions import MAX_CAPTION_BYTES
from courseware.cover import MAX_COVER_BYTES
from terminals.sites.photos import MAX_PHOTO_BYTES
from web.i18n import pick_locale


@dataclass(frozen=True)
class LargeBody:
    """Requests to `path` (a regular expression) with one of `methods` may carry up to the
    number of bytes `limit` reads from the settings."""

    methods: frozenset[str]
    path: re.Pattern[str]
    limit: Callable[[Settings], int]


# Room for a multipart body's boundaries and part headers around the file it carries.
FRAMING = 64 * 1024
# Routes that take more than a form. A new route that takes files adds its rule here.
LARGE_BODIES = (
    LargeBody(
        frozenset({"POST", "PATCH"}),
        re.compile(r"^/api/uploads(/[^/]*)?/?$"),
        lambda settings: settings.max_chunk_bytes,
    ),
    LargeBody(
        frozenset({"POST"}),
        re.compile(r"^/api/lessons/[^/]+/attachments/?$"),
        # the file plus its multipart framing
        lambda settings: settings.max_attachment_bytes + FRAMING,
    ),
    LargeBody(
        frozenset({"POST"}),
        re.compile(r"^(/api|/admin)/members/import/?$"),
        lambda _settings: MAX_ROSTER_BYTES + FRAMING,
    ),
    LargeBody(
        frozenset({"PUT"}),
        re.compile(r"^/api/courses/[^/]+/cover/?$"),
        lambda _settings: MAX_COVER_BYTES + FRAMING,
    ),
    LargeBody(
        frozenset({"POST"}),
        re.compile(r"^/api/lessons/[^/]+/captions/?$"),
        lambda _settings: MAX_CAPTION_BYTES + FRAMING,
    ),
    LargeBody(
        frozenset({"POST"}),
        re.compile(r"^/api/terminal/records/?$"),
        lambda settings: settings.sync_max_batch_bytes,
    ),
    LargeBody(
        frozenset({"POST"}),
        re.compile(r"^(/api|/admin)/sites/[^/]+/photos/?$"),
        lambda _settings: MAX_PHOTO_BYTES + FRAMING,
    ),
)


def body_limit(settings: Settings, method: str, path: str) -> int:
    """The most bytes a request body to `method path` may have."""
    for rule in LARGE_BODIES:
        if method in rule.methods and rule.path.match(path):
            return rule.limit(settings)
    return settings.max_request_bytes


def _method(scope: Scope) -> str:
    """The request's method, as tus clients may override it (X-HTTP-Method-Override)."""
    for name, value in scope["headers"]:
        if name == b"x-http-method-override":
            return value.decode("latin-1").strip().upper()
    return str(scope["method"])


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _readable(size: int) -> str:
    if size >= 1024**2:
        return f"{size / 1024**2:.0f} MB"
    return f"{size / 1024:.0f} KB"


class BodyLimits:
    """ASGI middleware: 413 for a request body over its route's limit, before it is read."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.settings, _method(scope), scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, send, limit)
            return
        received = 0
        over = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # The app sees the client go away; the client is answered 413 below.
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                if not started:
                    started = True
                    await self._refuse(scope, send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)
        if over and not started:
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        """Answer 413 in the reader's language: JSON for the API and media, text elsewhere."""
        request = Request(scope)
        locale = pick_locale(request, self.settings.default_locale)
        message = gettext(
            locale,
            N_("The request is too large: at most %(limit)s may be sent here."),
            limit=_readable(limit),
        )
        wants_json = scope["path"].startswith(("/api/", "/media/")) or (
            "application/json" in request.headers.get("accept", "")
        )
        if wants_json:
            body = json.dumps({"detail": message}, ensure_ascii=False).encode()
            content_type = b"application/json"
        else:
            body = message.encode()
            content_type = b"text/plain; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
