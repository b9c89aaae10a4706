"""Real headless Chromium for the site tests, driven over the DevTools protocol.

No WebDriver and no extra Python package: Chromium runs with ``--remote-debugging-pipe``,
which speaks the DevTools protocol as NUL-terminated JSON on its file descriptors 3 (in)
and 4 (out). ``serve`` puts a built site on a free loopback port.

    with serve(site) as base, Browser() as browser:
        page = browser.page(width=400)
        page.goto(f"{base}/index.html")
        print(page.evaluate("document.title"))
        page.screenshot(Path("index-400.png"))

Run it as a script to screenshot every page of a built site at 1400 and 400 px:
``python tests/browser.py SITE_DIR OUT_DIR``. Without Chromium (Debian: ``apt-get install
chromium``), ``find_chromium`` returns None.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["Browser", "BrowserError", "Page", "find_chromium", "serve"]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)

# Chromium reads the protocol on fd 3 and writes on fd 4. subprocess cannot renumber
# descriptors, so a two-line trampoline moves the pipe ends there and execs Chromium.
_TRAMPOLINE = (
    "import fcntl, os, sys\n"
    "ends = [fcntl.fcntl(int(fd), fcntl.F_DUPFD_CLOEXEC, 10) for fd in sys.argv[1:3]]\n"
    "os.dup2(ends[0], 3); os.dup2(ends[1], 4)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


class BrowserError(RuntimeError):
    """Chromium answered with an error, went away, or did not answer in time."""


def find_chromium() -> str | None:
    """The Chromium executable on PATH (``CHROMIUM`` overrides), or None."""
    named = os.environ.get("CHROMIUM")
    if named:
        return named
    return next((p for name in ("chromium", "chromium-browser") if (p := shutil.which(name))), None)


class Browser:
    """One headless Chromium process; ``page()`` opens tabs in it. ``timeout`` is a hang
    guard, far above what an answer takes even on a busy machine."""

    def __init__(self, executable: str | None = None, timeout: float = 300.0) -> None:
        chromium = executable or find_chromium()
        if chromium is None:
            raise BrowserError("no chromium on PATH (Debian: apt-get install chromium)")
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="statewright-chromium-")
        to_browser, self._send_end = os.pipe()
        self._recv_end, from_browser = os.pipe()
        command = [chromium, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"]
        self._process = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(to_browser), str(from_browser), *command],
            pass_fds=(to_browser, from_browser),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.call("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._send_end, self._recv_end):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer; events seen meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._send_end, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._receive()
            if answer.get("id") != self._next_id:
                self._events.append(answer)
                continue
            if "error" in answer:
                raise BrowserError(f"{method}: {answer['error'].get('message')}")
            result: dict[str, Any] = answer.get("result", {})
            return result

    def wait_for(self, event: str, session: str) -> dict[str, Any]:
        """The next event named ``event`` from ``session``, kept or still to come."""
        while True:
            for i, seen in enumerate(self._events):
                if seen.get("method") == event and seen.get("sessionId") == session:
                    del self._events[i]
                    params: dict[str, Any] = seen.get("params", {})
                    return params
            self._events.append(self._receive())

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._recv_end], [], [], left)[0]:
                raise BrowserError(f"chromium did not answer within {self.timeout:.0f} s")
            chunk = os.read(self._recv_end, 1 << 20)
            if not chunk:
                raise BrowserError("chromium exited")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def page(self, width: int, height: int = 900) -> Page:
        """A new tab with a viewport ``width`` CSS pixels wide."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session)
        page.call("Page.enable")
        page.resize(width, height)
        return page


class Page:
    """One tab of a ``Browser``."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.call(method, self.session, **params)

    def resize(self, width: int, height: int = 900) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def goto(self, url: str) -> None:
        """Load ``url`` and wait until its scripts have run and it has been laid out."""
        self.call("Page.navigate", url=url)
        self.browser.wait_for("Page.loadEventFired", self.session)
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression (promises are awaited)."""
        answer = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression[:60]}...: {text}")
        return answer["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True) -> None:
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            metrics = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": metrics["width"],
                "height": min(metrics["height"], 16000),
                "scale": 1,
            }
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", **params)["data"]))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a free loopback port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _screenshots(site: Path, out: Path, widths: tuple[int, ...] = (1400, 400)) -> None:
    out.mkdir(parents=True, exist_ok=True)
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    pages = [p for p in pages if p != "404.html"]
    with serve(site) as base, Browser() as browser:
        for width in widths:
            tab = browser.page(width)
            for page in pages:
                tab.goto(f"{base}/{page}")
                name = page.removesuffix(".html").replace("/", "_")
                tab.screenshot(out / f"{name}-{width}.png")
                print(out / f"{name}-{width}.png")


if __name__ == "__main__":
    _screenshots(Path(sys.argv[1]), Path(sys.argv[2]))
