"""A public election's live standing answered before the rest of the stack.

Thousands follow one election's count (bench/tally.py: 2,000 viewers), and each message would
otherwise pass through every middleware's wrapper of `send` (sessions, security headers, body
limits, routing's error handling), which together cost more than sending it. A public
election's feed needs none of them: no login, no body, no cookie. It is answered here, with the
security headers every response carries; any other feed (a non-public election's, which needs
the viewer's session) goes on to its route, which checks who may follow it. Both serve the same
`LiveFeed.follow` stream.
"""

import asyncio
import re
from collections.abc import Mapping
from contextlib import suppress
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from core.api import MAX_ID, unit_of_work
from streaming.elections.live import SSE_HEADERS, LiveFeed
from streaming.elections.models import Election

LIVE_PATH = re.compile(r"/api/elections/(\d{1,18})/live")


def is_public(session: Session, election_id: int) -> bool:
    return bool(session.scalar(select(Election.public).where(Election.id == election_id)))


class PublicStandings:
    """ASGI middleware, the outermost: a public election's live feed, straight from the feed."""

    def __init__(self, app: ASGIApp, *, feed: LiveFeed, headers: Mapping[str, str]) -> None:
        self.app = app
        self.feed = feed
        self.headers = [
            (name.lower().encode(), value.encode())
            for name, value in {**headers, **SSE_HEADERS}.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = (
            LIVE_PATH.fullmatch(scope["path"])
            if scope["type"] == "http" and scope["method"] == "GET"
            else None
        )
        election_id = int(found[1]) if found is not None else 0
        if not 1 <= election_id <= MAX_ID or not await unit_of_work(
            partial(is_public, election_id=election_id)
        ):  # the route answers the rest: a non-public feed, or a number no row can have
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        stream = self.feed.follow(election_id)

        async def pump() -> None:
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

        pumping = asyncio.ensure_future(pump())
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            pumping.cancel()
            with suppress(BaseException):  # the viewer has gone: whatever the pump was doing
                await pumping
