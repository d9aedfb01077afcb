"""How a web node reaches the media node that holds a room: a ticket that names who is let in,
and a relay of the participant's WebSocket to the node's.

The web node checks who is calling (cookie, Origin, invitation) and hands the node a ticket,
signed with the platform's secret, valid ``TICKET_SECONDS``: the node's own routes take nothing
else, so only a web node can send someone into a room. Media itself goes from the browser to
the node directly (ICE); only signalling passes through here.
"""

import asyncio
import logging
from contextlib import suppress
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from core.security import signing_key

log = logging.getLogger(__name__)

TICKET_SECONDS = 30
NODE_AWAY = 1012
"""Close code for a browser whose room's node could not be reached or went away: reconnect
(the room may be moving to another node)."""
PASSED_ON = frozenset({1000, 4401, 4403, 4410})
"""The node's close codes a browser is told as they are; any other close means the node is away."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_key("media-ticket"), salt="media-ticket")


def ticket(room: str, holder: dict[str, Any]) -> str:
    """A ticket into ``room`` for ``holder`` (what the node needs to know who comes)."""
    return _serializer().dumps({"room": room, "holder": holder})


def read_ticket(token: str, room: str) -> dict[str, Any] | None:
    """The holder a valid, fresh ticket into ``room`` names, else None."""
    try:
        content = _serializer().loads(token, max_age=TICKET_SECONDS)
    except BadSignature:
        return None
    if not isinstance(content, dict) or content.get("room") != room:
        return None
    holder = content.get("holder")
    return holder if isinstance(holder, dict) else None


def websocket_url(node_url: str, path: str) -> str:
    return node_url.replace("http", "ws", 1).rstrip("/") + path


async def relay(websocket: WebSocket, url: str, token: str) -> None:
    """Pass text messages both ways between an accepted browser socket and the node's socket at
    ``url`` (let in by the ticket ``token``) until either side closes; the browser learns how
    the node closed."""
    code, reason = NODE_AWAY, "media node away"
    try:
        async with connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=5,
            max_size=2**20,
            ping_interval=10,
        ) as upstream:

            async def down() -> None:
                async for message in upstream:
                    await websocket.send_text(str(message))

            async def up() -> None:
                while True:
                    await upstream.send(await websocket.receive_text())

            tasks = [asyncio.ensure_future(down()), asyncio.ensure_future(up())]
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            for task in done:
                if isinstance(task.exception(), WebSocketDisconnect):
                    return  # the browser left: closing upstream tells the node so
            if upstream.close_code in PASSED_ON:
                code, reason = upstream.close_code, upstream.close_reason or ""
    except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
        log.warning("media node at %s unreachable: %s", url, exc)
    with suppress(Exception):
        await websocket.close(code, reason)
