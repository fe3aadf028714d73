"""`checkout dashboard --web` in a real headless Chromium (Debian's, driven by Playwright): run by `make test-browser`.

Each test runs the real command over a private stack (embedded servers on free ports) and
reads the tokens from the URLs it prints, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.runtime import free_port
from tests.browser.chromium import CHROMIUM, TRY_WEBSOCKET, Terminal, launch
from tests.support.servers import pid_alive, wait_for_port
from tests.support.tls_certs import make_certificates

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"^(checkout-ops dashboard|read-only dashboard \(watch only\)): (\S+)$", re.MULTILINE)


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
                environ = (entry / "environ").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(data_dir) in cmdline + environ and pid_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def tab_command_lines(data_dir: Path) -> list[str]:
    """The command lines of the browser tabs' dashboards of this test."""
    lines = []
    for pid in processes_using(data_dir):
        try:
            line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "tui.cli dashboard --attach" in line:
            lines.append(line)
    return lines


@dataclass(frozen=True)
class WebDashboard:
    base_url: str
    operator_url: str
    viewer_url: str
    env: dict[str, str]
    output: Path
    data_dir: Path

    @property
    def tokens(self) -> list[str]:
        return [url.split("token=", 1)[1] for url in (self.operator_url, self.viewer_url)]


@contextmanager
def web_dashboard(tmp_path: Path, *args: str, scheme: str = "http") -> Iterator[WebDashboard]:
    """`checkout -v dashboard --web` (INFO logs on: the access log too), stopped and checked after."""
    port = free_port()
    data_dir = tmp_path / "data"
    env = stack_env(data_dir)
    output = tmp_path / "web.out"
    with output.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "-v", "dashboard", "--web", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, timeout=90, process=server)
            urls = dict(URL_LINE.findall(output.read_text()))
            yield WebDashboard(
                f"{scheme}://127.0.0.1:{port}/",
                urls["checkout-ops dashboard"],
                urls["read-only dashboard (watch only)"],
                env,
                output,
                data_dir,
            )
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            deadline = time.monotonic() + 20
            while processes_using(data_dir) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not processes_using(data_dir), "servers or dashboards left running"


@pytest.fixture
def chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does it)")


def logs_of(dashboard: WebDashboard) -> str:
    return "\n".join(path.read_text(errors="replace") for path in (dashboard.data_dir / "logs").glob("*.log"))


@pytest.mark.usefixtures("chromium")
def test_without_the_token_refused_with_it_the_dashboard_works(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with web_dashboard(tmp_path) as dashboard, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

            refused = page.goto(dashboard.base_url)
            assert refused is not None and refused.status == 401
            assert "token" in page.content()

            terminal = Terminal(page)
            page.goto(dashboard.operator_url)
            page.wait_for_url(dashboard.base_url)  # the token left the address bar
            terminal.wait_for("worker")  # the status line: connected to the stack the web process runs
            order_id = f"web-{uuid.uuid4().hex[:6]}"
            started = subprocess.run(
                [sys.executable, "-m", "tui.cli", "trigger", "--order-id", order_id, "--no-wait"],
                env=dashboard.env | {"CHECKOUT_EMBEDDED__MODE": "never"},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert started.returncode == 0, started.stderr
            terminal.wait_for(order_id)  # the order appears in the browser's table

            page.click(".xterm-screen")
            page.keyboard.press("n")
            terminal.wait_for("New order")  # the key reached the app: its form opened
            page.keyboard.press("Escape")

            base = dashboard.base_url
            assert [url for url in requested if not url.startswith(base)] == []  # nothing from outside
            assert any(url.endswith(".ttf") for url in requested)  # the font, served here
            assert terminal.sockets() == [f"ws://127.0.0.1:{base.rsplit(':', 1)[1].strip('/')}/ws"]
            assert not [error for error in errors if "Content Security Policy" in error]
        finally:
            browser.close()
    # The token is printed once, in its URL, and never logged (the access log is on: -v).
    output, logs = dashboard.output.read_text(), logs_of(dashboard)
    assert '"GET /' in logs, "the access log should show the requests"
    for token in dashboard.tokens:
        assert output.count(token) == 1 and token not in logs


class ForeignPage(BaseHTTPRequestHandler):
    """Another web application: its page, with the links it is given."""

    links: tuple[str, ...] = ()

    def do_GET(self) -> None:
        anchors = "".join(f'<a href="{link}">{link}</a>' for link in self.links)
        body = f"<!DOCTYPE html><title>another app</title>{anchors}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def foreign_site(*links: str) -> Iterator[str]:
    """Another app on this host, at 127.0.0.1 and another port: the same site as the dashboard, for cookies."""
    page = type("Page", (ForeignPage,), {"links": links})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.usefixtures("chromium")
def test_a_websocket_from_another_origin_is_refused(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with web_dashboard(tmp_path) as dashboard, foreign_site() as other, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(dashboard.operator_url)  # logged in: the cookie is in this browser
            page.wait_for_url(dashboard.base_url)
            socket_url = dashboard.base_url.replace("http://", "ws://") + "ws"
            assert page.evaluate(TRY_WEBSOCKET, socket_url) == "open"  # from the dashboard's own page
            page.goto(other)
            # The browser sends the cookie (same site) but its own Origin: refused in the handshake.
            assert page.evaluate(TRY_WEBSOCKET, socket_url) == "closed 1006"
        finally:
            browser.close()


@pytest.mark.usefixtures("chromium")
def test_a_token_link_followed_from_another_site_logs_in(tmp_path: Path) -> None:
    """SameSite=Strict: a cookie set during a navigation another site started would not come with a
    redirect; the page that sends the browser on is ours, so the next request carries it."""
    from playwright.sync_api import sync_playwright

    with (
        web_dashboard(tmp_path) as dashboard,
        foreign_site(dashboard.operator_url) as other,
        sync_playwright() as playwright,
    ):
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            terminal = Terminal(page)
            page.goto(other.replace("127.0.0.1", "localhost"))  # localhost and 127.0.0.1: two sites
            page.click("a")
            page.wait_for_url(dashboard.base_url)
            terminal.wait_for("worker")
        finally:
            browser.close()


@pytest.mark.usefixtures("chromium")
def test_the_read_only_tokens_dashboard_only_watches(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with web_dashboard(tmp_path) as dashboard, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            terminal = Terminal(page)
            page.goto(dashboard.viewer_url)
            page.wait_for_url(dashboard.base_url)
            terminal.wait_for("worker")
            terminal.wait_for("read-only")  # the status line says so
            tabs = {line.split("tui.cli ", 1)[1].strip() for line in tab_command_lines(dashboard.data_dir)}
            assert tabs == {"dashboard --attach --read-only"}
            page.click(".xterm-screen")
            page.keyboard.press("n")
            assert not terminal.shows("New order", timeout=3)  # the key does nothing here
        finally:
            browser.close()


@contextmanager
def network_namespace() -> Iterator[tuple[str, str]]:
    """A namespace of our own joined to this one by a veth pair in a /30 of our own: (namespace, our address).

    Removed after, also on failure (deleting the namespace deletes the pair)."""
    tag = secrets.token_hex(3)
    namespace, outside, inside = f"wa-{tag}", f"wa{tag}a", f"wa{tag}b"
    block = 4 * secrets.randbelow(64)  # 10.203.77.0/24, one /30 of it: parallel runs do not collide
    ours, theirs = f"10.203.77.{block + 1}", f"10.203.77.{block + 2}"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)

    ip("netns", "add", namespace)
    try:
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", namespace)
        ip("addr", "add", f"{ours}/30", "dev", outside)
        ip("link", "set", outside, "up")
        ip("netns", "exec", namespace, "ip", "addr", "add", f"{theirs}/30", "dev", inside)
        ip("netns", "exec", namespace, "ip", "link", "set", inside, "up")
        ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        yield namespace, ours
    finally:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", outside], capture_output=True, timeout=30)


@pytest.mark.usefixtures("chromium")
def test_bound_to_all_addresses_a_browser_elsewhere_works_with_the_token(tmp_path: Path) -> None:
    missing = "needs root" if os.geteuid() != 0 else "needs `ip` (iproute2)" if not shutil.which("ip") else ""
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the network namespace test {missing}, which CI has")
        pytest.skip(f"{missing} to make a network namespace")
    certs = make_certificates(tmp_path / "certs")
    tls = ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key)]
    with (
        network_namespace() as (namespace, address),
        web_dashboard(tmp_path, "--host", "0.0.0.0", *tls, scheme="https") as dashboard,
    ):
        port = dashboard.base_url.rsplit(":", 1)[1].strip("/")
        base = f"https://{address}:{port}/"
        token = dashboard.tokens[0]
        visit = subprocess.run(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "tests.browser.chromium", base, token],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert visit.returncode == 0, visit.stderr[-3000:]
        seen = json.loads(visit.stdout.strip().splitlines()[-1])
    assert seen["without_token"] == 401
    assert seen["url_after_login"] == base
    assert seen["sockets"] == [f"wss://{address}:{port}/ws"]  # never ws://0.0.0.0
    assert seen["dashboard_live"], "the dashboard never showed its status line in the remote browser"
