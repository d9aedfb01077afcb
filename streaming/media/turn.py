"""Time-limited TURN credentials, as coturn checks them with ``use-auth-secret`` (the "TURN REST
API" scheme): the username is the expiry time and a name, the password the base64 HMAC-SHA1 of
the username under the shared secret. A leaked pair stops working when it expires."""

import base64
import hashlib
import hmac
import time

from core.settings import IceServer, Settings

LIFETIME = 24 * 3600


def turn_server(settings: Settings, name: str, now: float | None = None) -> IceServer | None:
    """The TURN server for one participant, or None when none is configured."""
    if not settings.turn_urls or not settings.turn_secret:
        return None
    expires = int((now if now is not None else time.time()) + LIFETIME)
    username = f"{expires}:{name}"
    digest = hmac.new(settings.turn_secret.encode(), username.encode(), hashlib.sha1).digest()
    return IceServer(
        urls=settings.turn_urls, username=username, credential=base64.b64encode(digest).decode()
    )


def ice_servers_for(settings: Settings, name: str) -> list[IceServer]:
    """What a participant's browser is told to use: the configured servers, and TURN."""
    turn = turn_server(settings, name)
    return [*settings.ice_servers, *([turn] if turn is not None else [])]
