"""Debian's Firefox ESR, headless, driven over WebDriver BiDi (the remote protocol built into
Firefox): Playwright drives only its own patched Firefox, which this machine cannot download.
Enough of the protocol for a page test: navigate, evaluate, wait for a condition."""

import json
import re
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

FIREFOX = "/usr/bin/firefox-esr"
PREFERENCES = {
    # The camera and microphone are Firefox's own test pattern and tone, allowed without asking.
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "browser.shell.checkDefaultBrowser": False,
    "intl.accept_languages": "zh-CN",
}


class Firefox:
    """One headless Firefox with a fresh profile under ``folder``, and its one tab."""

    def __init__(self, folder: Path) -> None:
        profile = folder / "firefox-profile"
        profile.mkdir(parents=True)
        (profile / "user.js").write_text(
            "".join(
                f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFERENCES.items()
            )
        )
        self.process = subprocess.Popen(
            [FIREFOX, "--headless", "--no-remote", "--profile", str(profile)]
            + ["--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self.process.stderr is not None
        address = None
        while address is None:
            line = self.process.stderr.readline().decode(errors="replace")
            if not line:
                raise AssertionError("Firefox stopped before its remote protocol listened")
            if found := re.search(r"WebDriver BiDi listening on (ws://\S+)", line):
                address = found.group(1)
        self.exits = ExitStack()
        self.socket = self.exits.enter_context(
            connect(f"{address.rstrip('/')}/session", max_size=2**24)
        )
        self.sent = 0
        self.call("session.new", {"capabilities": {}})
        self.context = self.call("browsingContext.getTree", {})["contexts"][0]["context"]

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.sent += 1
        self.socket.send(json.dumps({"id": self.sent, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.sent:
                if message.get("type") == "error":
                    raise AssertionError(f"{method}: {message.get('message')}")
                result: dict[str, Any] = message["result"]
                return result

    def goto(self, url: str) -> None:
        self.call(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited) in the tab's page."""
        result = self.call(
            "script.evaluate",
            {"expression": expression, "target": {"context": self.context}, "awaitPromise": True},
        )
        if result["type"] == "exception":
            raise AssertionError(f"{expression}: {result['exceptionDetails']['text']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.3)
        raise AssertionError(f"not true within {timeout} s in Firefox: {expression}")

    def close(self) -> None:
        self.exits.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
