"""The agent's HTTP side: the server's sync API and file downloads, made for poor links.

Connections are retried (httpx transport retries) and every call has timeouts; a download that
breaks keeps its `.part` file and resumes from there with an HTTP Range request, in this run or
the next.
"""

import hashlib
import os
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from core.errors import ConfigurationError, InvalidInput, TemporaryError
from core.i18n import N_
from core.settings import get_settings

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MANIFEST_TIMEOUT = httpx.Timeout(300.0, connect=10.0)  # the first one may index new lessons
CONNECT_RETRIES = 3
DOWNLOAD_TRIES = 4
RETRY_PAUSE = 0.5  # seconds before the first retry of a broken download; doubled each time


def agent_version() -> str:
    """This agent's version (the installed distribution's)."""
    try:
        return version("yuanjiao")
    except PackageNotFoundError:
        return "0"


def agent_locale() -> str:
    """The operator's language (YUANJIAO_DEFAULT_LOCALE): the server words its refusals in it."""
    try:
        return get_settings().default_locale
    except ConfigurationError:
        return "zh_CN"


class ServerRefused(InvalidInput):
    """The server answered the agent with an error; its message is passed on."""


class ServerAway(TemporaryError):
    """The server could not be reached (the next sync tries again)."""


class FileCorrupt(InvalidInput):
    """A downloaded file does not match its manifest digest (it is dropped and fetched again)."""


def _refusal(response: httpx.Response) -> ServerRefused:
    try:
        detail = str(response.json().get("detail", ""))
    except ValueError:
        detail = response.text[:200]
    return ServerRefused(
        N_("The server refused (%(status)d): %(detail)s"),
        status=response.status_code,
        detail=detail,
    )


class ServerClient:
    """The sync API of one server, with the device token once enrolled."""

    def __init__(self, server: str, token: str | None = None) -> None:
        self.server = server.rstrip("/") + "/"
        headers = {"User-Agent": f"yuanjiao-agent/{agent_version()}"}
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        # The web's language cookie, sent to this server only (never to a storage host).
        self._language = {"Cookie": f"lang={agent_locale()}"}
        self.http = httpx.Client(
            timeout=TIMEOUT,
            headers=headers,
            transport=httpx.HTTPTransport(retries=CONNECT_RETRIES),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(
                method,
                urljoin(self.server, path.lstrip("/")),
                headers={**self._auth, **self._language},
                **kwargs,
            )
        except httpx.HTTPError as exc:
            raise ServerAway(
                N_("The server %(server)s cannot be reached: %(reason)s"),
                server=self.server,
                reason=str(exc) or type(exc).__name__,
            ) from exc
        if response.status_code >= 400:
            raise _refusal(response)
        return response.json()

    def enrol(self, code: str, hostname: str) -> dict[str, Any]:
        """Exchange the code for a token and the manifest key."""
        body = {"code": code, "hostname": hostname, "agent_version": agent_version()}
        result: dict[str, Any] = self._call("POST", "api/terminal/enrol", json=body)
        return result

    def heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send a heartbeat; the server's clock comes back."""
        result: dict[str, Any] = self._call("POST", "api/terminal/heartbeat", json=body)
        return result

    def report_holdings(self, report: dict[str, Any]) -> dict[str, Any]:
        """Tell the server what this site holds of each lesson of its manifest."""
        result: dict[str, Any] = self._call("PUT", "api/terminal/holdings", json=report)
        return result

    def manifest(self) -> dict[str, Any]:
        """The signed manifest envelope (not yet verified)."""
        result: dict[str, Any] = self._call(
            "GET", "api/terminal/manifest", timeout=MANIFEST_TIMEOUT
        )
        return result

    def upload(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Upload a batch of records; the acknowledgement."""
        result: dict[str, Any] = self._call("POST", "api/terminal/records", json=batch)
        return result

    def _is_ours(self, url: str) -> bool:
        """Whether `url` is on this server (the token goes there, never to a storage host)."""
        ours, theirs = urlsplit(self.server), urlsplit(url)
        return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)

    def download(
        self,
        url: str,
        part: Path,
        *,
        size: int,
        sha256: str,
        on_bytes: Callable[[int], None] = lambda _n: None,
    ) -> int:
        """Fetch `url` into `part`, resuming what is there, until it has `size` bytes with the
        right SHA-256; the bytes transferred. FileCorrupt (the part dropped) on a mismatch."""
        absolute = urljoin(self.server, url)
        headers = dict(self._auth) if self._is_ours(absolute) else {}
        received = [0]  # counted as they arrive, so a transfer that breaks off still counts

        def count(n: int) -> None:
            received[0] += max(n, 0)
            on_bytes(n)

        for attempt in range(DOWNLOAD_TRIES):
            have = part.stat().st_size if part.exists() else 0
            if have > size:
                part.unlink()
                have = 0
            if have == size:
                break
            try:
                self._fetch(absolute, part, have, headers, count)
            except httpx.HTTPError as exc:
                if attempt == DOWNLOAD_TRIES - 1:
                    raise ServerAway(
                        N_("A download broke off (it resumes next time): %(reason)s"),
                        reason=str(exc) or type(exc).__name__,
                    ) from exc
                time.sleep(RETRY_PAUSE * 2**attempt)  # give a poor link a moment
        transferred = received[0]
        if not part.exists() or part.stat().st_size != size or _sha256(part) != sha256:
            part.unlink(missing_ok=True)
            raise FileCorrupt(
                N_("%(path)s does not match its manifest digest; it is fetched again next time."),
                path=part.name.removesuffix(".part"),
            )
        return transferred

    def _fetch(
        self,
        url: str,
        part: Path,
        have: int,
        headers: dict[str, str],
        on_bytes: Callable[[int], None],
    ) -> int:
        wanted = {**headers, **({"Range": f"bytes={have}-"} if have else {})}
        transferred = 0
        with self.http.stream("GET", url, headers=wanted) as response:
            if response.status_code == 416:
                part.unlink(missing_ok=True)  # what we hold is longer than the object
                return 0
            if response.status_code >= 400:
                response.read()
                raise _refusal(response)
            append = have > 0 and response.status_code == 206
            if have and not append:
                on_bytes(-have)  # the server sent the whole file: start again
            part.parent.mkdir(parents=True, exist_ok=True)
            with open(part, "ab" if append else "wb") as handle:
                # As the bytes arrive: a link that breaks keeps everything received so far.
                for chunk in response.iter_bytes():
                    handle.write(chunk)
                    transferred += len(chunk)
                    on_bytes(len(chunk))
                handle.flush()
                os.fsync(handle.fileno())
        return transferred


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 hex of a file on disk."""
    return _sha256(path)
