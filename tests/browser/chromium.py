"""Debian's headless Chromium driven by Playwright, for the browser tests; also a script.

The page draws the terminal on a canvas, so a test reads what the app sends to it: a script
added before the page loads keeps the text of every websocket message.

As a script (`python -m tests.browser.chromium URL TOKEN`) it is a browser on another
machine: the netns test runs it inside a network namespace against the dashboard's
non-loopback address, and it prints what it saw as one JSON object.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
KEEP_TERMINAL_TEXT = """
window.__terminal = [];
window.__sockets = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = function (url, protocols) {
  window.__sockets.push(url);
  const socket = new NativeWebSocket(url, protocols);
  socket.addEventListener("message", (event) => {
    const data = event.data;
    if (typeof data === "string") window.__terminal.push(data);
    else if (data instanceof ArrayBuffer) window.__terminal.push(new TextDecoder().decode(data));
    else if (data instanceof Blob) data.text().then((text) => window.__terminal.push(text));
  });
  return socket;
};
window.WebSocket.prototype = NativeWebSocket.prototype;
"""
# From a page: open a websocket to `url` and say whether it opened or how it closed.
TRY_WEBSOCKET = """
(url) => new Promise((resolve) => {
  const socket = new WebSocket(url);
  socket.onopen = () => { socket.close(); resolve("open"); };
  socket.onclose = (event) => resolve("closed " + event.code);
})
"""
ESCAPES = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


class Terminal:
    """A dashboard page: what its terminal shows, as text."""

    def __init__(self, page: Page) -> None:
        self.page = page
        page.add_init_script(KEEP_TERMINAL_TEXT)

    def screen(self) -> str:
        return ESCAPES.sub("", "".join(self.page.evaluate("window.__terminal")))

    def shows(self, text: str, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while text not in self.screen():
            if time.monotonic() > deadline:
                return False
            self.page.wait_for_timeout(200)
        return True

    def wait_for(self, text: str, timeout: float = 60) -> None:
        if not self.shows(text, timeout):
            raise AssertionError(f"{text!r} never showed; the page got: {self.screen()[-2000:]!r}")

    def sockets(self) -> list[str]:
        """The websockets the page opened, without their query (the terminal's size)."""
        sockets: list[str] = self.page.evaluate("window.__sockets")
        return [url.split("?", 1)[0] for url in sockets]


def visit_from_afar(base_url: str, token: str) -> dict[str, Any]:
    """What a browser elsewhere sees: the page without the token, then with it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            # The test's certificate names 127.0.0.1 and localhost, not the namespace's address.
            page = browser.new_page(ignore_https_errors=True, viewport={"width": 1400, "height": 900})
            refused = page.goto(base_url)
            terminal = Terminal(page)
            page.goto(f"{base_url}?token={token}")
            page.wait_for_url(base_url, timeout=30_000)
            return {
                "without_token": refused.status if refused else None,
                "url_after_login": page.url,
                "dashboard_live": terminal.shows("worker", timeout=90),
                "sockets": terminal.sockets(),
            }
        finally:
            browser.close()


if __name__ == "__main__":
    print(json.dumps(visit_from_afar(sys.argv[1], sys.argv[2])))
