"""`checkout dashboard --web` in a real headless Chromium (Debian's, driven by Playwright): run by `make test-browser`.

The page draws the terminal on a canvas, so the test reads what the app sends to it: a
script added before the page loads keeps the text of every websocket message.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runtime import free_port
from tests.support.servers import pid_alive, wait_for_port

pytestmark = pytest.mark.browser

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
const NativeWebSocket = window.WebSocket;
window.WebSocket = function (url, protocols) {
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
ESCAPES = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def stack_env(data_dir: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHECKOUT_")}
    return environment | {
        "TEMPORAL_HOST": f"127.0.0.1:{free_port()}",
        "NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "CHECKOUT_TEMPORAL__UI_PORT": str(free_port()),
        "CHECKOUT_TEMPORAL__TASK_QUEUE": f"web-{uuid.uuid4().hex[:8]}",
        "CHECKOUT_EMBEDDED__MODE": "always",
        "CHECKOUT_EMBEDDED__DATA_DIR": str(data_dir),
        "CHECKOUT_SAGA__HOLD_SECONDS": "1",
    }


def processes_using(data_dir: Path) -> list[int]:
    """Processes (servers, dashboards) started for this test, found by its private data dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(data_dir) in cmdline and pid_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


@pytest.fixture
def web_dashboard(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = stack_env(tmp_path / "data")
    log = (tmp_path / "web.out").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "dashboard", "--web", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}/", env
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        deadline = time.monotonic() + 20
        while processes_using(tmp_path / "data") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not processes_using(tmp_path / "data"), "servers or dashboards left running"


def test_the_dashboard_in_a_browser_shows_an_order_and_takes_keys(web_dashboard: tuple[str, dict[str, str]]) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does it)")
    url, env = web_dashboard
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.add_init_script(KEEP_TERMINAL_TEXT)
            page.goto(url)

            def screen() -> str:
                return ESCAPES.sub("", "".join(page.evaluate("window.__terminal")))

            def wait_for(text: str, timeout: float = 60) -> None:
                deadline = time.monotonic() + timeout
                while text not in screen():
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{text!r} never showed; the page got: {screen()[-2000:]!r}")
                    page.wait_for_timeout(200)

            wait_for("worker")  # the status line: connected to the stack the web process runs
            order_id = f"web-{uuid.uuid4().hex[:6]}"
            started = subprocess.run(
                [sys.executable, "-m", "tui.cli", "trigger", "--order-id", order_id, "--no-wait"],
                env=env | {"CHECKOUT_EMBEDDED__MODE": "never"},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert started.returncode == 0, started.stderr
            wait_for(order_id)  # the order appears in the browser's table

            page.click(".xterm-screen")
            page.keyboard.press("n")
            wait_for("New order")  # the key reached the app: its form opened
            page.keyboard.press("Escape")
        finally:
            browser.close()
