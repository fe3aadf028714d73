"""The web dashboard's authentication with a plain aiohttp client: no browser, so `make test` runs it.

The server is the real one (textual-serve's app behind our middleware) over a stack that does
nothing; each role's tab command is a shell line that leaves a marker file, so a test sees
which command a websocket started. The real stack and Chromium are in test_web_dashboard.py.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from engine.errors import InvalidInput
from engine.runtime import free_port
from tests.support.tls_certs import make_certificates
from tui import cli
from tui.config import CHECKOUT_COMMAND, DashboardSettings
from tui.web import RUNNER_OPTIONS, DashboardServer, Role, WebAuth, WebFlags, WebOptions, tab_commands, web_options

OPERATOR_TOKEN = "operator-token-0123456789abcdef"
VIEWER_TOKEN = "viewer-token-0123456789abcdef"
TOKENS = {Role.OPERATOR: SecretStr(OPERATOR_TOKEN), Role.VIEWER: SecretStr(VIEWER_TOKEN)}


class IdleStack:
    """The stack's lifecycle as DashboardServer calls it, with nothing behind it."""

    async def start(self) -> None:
        pass

    def start_helpers(self) -> None:
        pass

    async def stop(self) -> None:
        pass


Serve = Callable[..., Awaitable[tuple[TestServer, Path]]]


@pytest.fixture
async def serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Serve]:
    """Starts DashboardServer on a free loopback port with the given options; stopped after the test."""
    monkeypatch.setenv("CHECKOUT_EMBEDDED__MODE", "never")  # on_startup sets it: restored after
    servers: list[TestServer] = []

    async def start(
        tokens: dict[Role, SecretStr] | None = None, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> tuple[TestServer, Path]:
        port = free_port()
        options = WebOptions(host, port, TOKENS if tokens is None else tokens, tls, insecure_http=False)
        markers = tmp_path / f"markers-{port}"
        markers.mkdir()
        commands = {role: shlex.join(["touch", str(markers / role.name)]) for role in Role}
        dashboard = DashboardServer(IdleStack(), options, commands)  # type: ignore[arg-type]
        server = TestServer(await dashboard.make_app(), host="127.0.0.1", port=port)
        await server.start_server(ssl=tls, **RUNNER_OPTIONS)
        servers.append(server)
        return server, markers

    yield start
    for server in servers:
        await server.close()


def client(connector: aiohttp.BaseConnector | None = None) -> aiohttp.ClientSession:
    """A client that keeps cookies for an IP address, as browsers do (aiohttp's default does not)."""
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))


def url(server: TestServer, path: str = "/") -> str:
    return f"{server.scheme}://127.0.0.1:{server.port}{path}"


async def login(session: aiohttp.ClientSession, server: TestServer, token: str) -> aiohttp.ClientResponse:
    async with session.get(url(server, f"/?token={token}&fontsize=14"), allow_redirects=False) as response:
        await response.read()
        return response


async def test_without_a_token_everything_is_refused(serve: Serve) -> None:
    server, markers = await serve()
    async with client() as session:
        for path in ("/", "/ws", "/download/some-key", "/static/js/textual.js", "/static/", "/favicon.ico"):
            async with session.get(url(server, path)) as response:
                assert response.status == 401, path
                assert "the URL that `checkout dashboard --web` printed" in await response.text()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url(server, "/ws"), origin=url(server, "").rstrip("/"))
        assert refused.value.status == 401
    assert not list(markers.iterdir()), "a dashboard was started for an unauthenticated websocket"


async def test_a_wrong_token_is_refused_and_gets_no_cookie(serve: Serve) -> None:
    server, _ = await serve()
    async with client() as session:
        response = await login(session, server, "not-the-token-0123456789")
        assert response.status == 401 and "Set-Cookie" not in response.headers
        assert len(session.cookie_jar) == 0
        cookie = {f"checkout-ops-{server.port}": "0" * 64}
        async with session.get(url(server), cookies=cookie) as forged:
            assert forged.status == 401


async def test_the_token_becomes_a_strict_httponly_cookie_and_leaves_the_url(serve: Serve) -> None:
    server, _ = await serve()
    async with client() as session:
        response = await login(session, server, OPERATOR_TOKEN)
        assert response.status == 200
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith(f"checkout-ops-{server.port}=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        assert OPERATOR_TOKEN not in cookie
        refresh = re.search(r'content="0;url=([^"]*)"', await response.text())
        assert refresh is not None and refresh.group(1) == "/?fontsize=14"  # the token gone, the rest kept
        async with session.get(url(server, refresh.group(1))) as page:
            assert page.status == 200
            assert page.headers["Referrer-Policy"] == "no-referrer"
            assert "connect-src 'self'" in page.headers["Content-Security-Policy"]
            html = await page.text()
        assert f'data-session-websocket-url="ws://127.0.0.1:{server.port}/ws"' in html
        async with session.get(url(server, "/static/js/textual.js")) as script:
            assert script.status == 200


async def test_the_page_loads_nothing_from_another_host(serve: Serve) -> None:
    server, _ = await serve()
    async with client() as session:
        await login(session, server, OPERATOR_TOKEN)
        async with session.get(url(server)) as page:
            html = await page.text()
    references = re.findall(r'(?:src|href)="([^"]+)"|url\("?([^")]+)"?\)', html)
    loaded = [first or second for first, second in references]
    assert loaded and "fonts.googleapis.com" not in html
    own = f"http://127.0.0.1:{server.port}/static/"
    assert [ref for ref in loaded if not ref.startswith(own)] == []
    assert any(ref.endswith(".ttf") for ref in loaded)  # the font, served here
    async with client() as session:
        await login(session, server, OPERATOR_TOKEN)
        font = next(ref for ref in loaded if ref.endswith(".ttf"))
        async with session.get(font) as response:
            assert response.status == 200 and len(await response.read()) > 10_000


async def wait_for_marker(markers: Path, timeout: float = 20) -> list[str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while not list(markers.iterdir()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("no tab command ran")
        await asyncio.sleep(0.05)
    return sorted(path.name for path in markers.iterdir())


@pytest.mark.parametrize(("token", "role"), [(OPERATOR_TOKEN, Role.OPERATOR), (VIEWER_TOKEN, Role.VIEWER)])
async def test_each_token_runs_its_own_roles_dashboard(serve: Serve, token: str, role: Role) -> None:
    server, markers = await serve()
    async with client() as session:
        await login(session, server, token)
        origin = f"http://127.0.0.1:{server.port}"
        async with session.ws_connect(url(server, "/ws?width=80&height=24"), origin=origin) as websocket:
            assert await wait_for_marker(markers) == [role.name]
            await websocket.close()


@pytest.mark.parametrize("origin", [None, "http://evil.example", "http://127.0.0.1:1", "null"])
async def test_a_websocket_from_another_origin_is_refused(serve: Serve, origin: str | None) -> None:
    server, markers = await serve()
    async with client() as session:
        await login(session, server, OPERATOR_TOKEN)
        headers = {} if origin is None else {"Origin": origin}
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url(server, "/ws"), headers=headers)
        assert refused.value.status == 403
    assert not list(markers.iterdir())


async def test_no_auth_answers_only_to_loopback_names(serve: Serve) -> None:
    server, markers = await serve({})
    async with client() as session:
        async with session.get(url(server)) as page:
            assert page.status == 200
        for host in ("evil.example", f"evil.example:{server.port}", "10.0.0.1"):  # DNS rebinding
            async with session.get(url(server), headers={"Host": host}) as response:
                assert response.status == 403, host
        async with session.get(url(server), headers={"Host": "a b"}) as response:
            assert response.status == 400
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url(server, "/ws"), origin="http://evil.example")
        assert refused.value.status == 403
    assert not list(markers.iterdir())


async def test_off_loopback_the_pages_urls_come_from_the_browsers_host(serve: Serve) -> None:
    server, _ = await serve(host="0.0.0.0")
    async with client() as session:
        await login(session, server, OPERATOR_TOKEN)
        async with session.get(url(server), headers={"Host": "dash.example:8443"}) as page:
            html = await page.text()
    assert 'data-session-websocket-url="ws://dash.example:8443/ws"' in html
    assert "0.0.0.0" not in html and "127.0.0.1" not in html


async def test_under_tls_the_cookie_is_secure_and_the_websocket_wss(serve: Serve, tmp_path: Path) -> None:
    certs = make_certificates(tmp_path / "certs")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(certs.server_cert, certs.server_key)
    client_tls = ssl.create_default_context(cafile=str(certs.ca))
    server, _ = await serve(tls=server_tls)
    async with client(aiohttp.TCPConnector(ssl=client_tls)) as session:
        response = await login(session, server, OPERATOR_TOKEN)
        assert "Secure" in response.headers["Set-Cookie"]
        async with session.get(url(server)) as page:
            assert f'data-session-websocket-url="wss://127.0.0.1:{server.port}/ws"' in await page.text()


def test_the_session_cookie_follows_the_token() -> None:
    before = WebAuth(TOKENS, port=1, secure=False)
    after_restart = WebAuth(TOKENS, port=1, secure=False)
    rotated = WebAuth({Role.OPERATOR: SecretStr("another-token-0123456789")}, port=1, secure=False)
    cookie = before._sessions[Role.OPERATOR]
    assert after_restart.role_of_cookie(cookie) is Role.OPERATOR
    assert rotated.role_of_cookie(cookie) is None
    assert before.role_of_token(VIEWER_TOKEN) is Role.VIEWER and before.role_of_token(VIEWER_TOKEN[:-1]) is None


# --- the flags, checked before anything starts --------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"no_auth": True, "host": "0.0.0.0"}, "--no-auth is allowed only on a loopback --host"),
        ({"no_auth": True, "token_file": "token"}, "contradict"),
        ({"host": "0.0.0.0"}, "give --tls-cert and --tls-key"),
        ({"host": "10.1.2.3", "tls_cert": "token"}, "--tls-cert and --tls-key go together"),
        ({"host": "0.0.0.0", "tls_cert": "token", "tls_key": "token"}, "cannot load them"),
        ({"tls_cert": "token", "tls_key": "token", "insecure_http": True}, "contradict"),
        ({"token_file": "short"}, "16+ characters"),
        ({"token_file": "missing"}, "cannot read it"),
        ({"token_file": "token", "read_only_token_file": "token"}, "must differ"),
        ({"port": 0}, "--port 0"),
    ],
)
def test_bad_flag_combinations_are_one_line(tmp_path: Path, flags: dict[str, Any], message: str) -> None:
    files = {"token": write(tmp_path / "t", OPERATOR_TOKEN), "short": write(tmp_path / "s", "abc")}
    files["missing"] = tmp_path / "missing"
    given = {
        key: files.get(value, value) if isinstance(value, str) and key != "host" else value
        for key, value in flags.items()
    }
    with pytest.raises(InvalidInput) as error:
        web_options(WebFlags(**given), DashboardSettings(), read_only=False)
    assert message in error.value.message and "\n" not in error.value.message
    assert OPERATOR_TOKEN not in error.value.message and error.value.exit_code == 2


def test_tokens_come_from_a_file_the_config_or_chance(tmp_path: Path) -> None:
    configured = DashboardSettings(web_token=OPERATOR_TOKEN, web_read_only_token=VIEWER_TOKEN)
    options = web_options(WebFlags(), configured, read_only=False)
    assert {role: token.get_secret_value() for role, token in options.tokens.items()} == {
        Role.OPERATOR: OPERATOR_TOKEN,
        Role.VIEWER: VIEWER_TOKEN,
    }
    from_file = web_options(
        WebFlags(token_file=write(tmp_path / "t", "from-the-file-0123456789\n")), configured, read_only=False
    )
    assert from_file.tokens[Role.OPERATOR].get_secret_value() == "from-the-file-0123456789"
    one, two = (web_options(WebFlags(), DashboardSettings(), read_only=False) for _ in range(2))
    assert one.tokens[Role.OPERATOR].get_secret_value() != two.tokens[Role.OPERATOR].get_secret_value()
    assert len(one.tokens[Role.OPERATOR].get_secret_value()) >= 40
    with pytest.raises(InvalidInput, match="has no operator token"):
        web_options(WebFlags(token_file=tmp_path / "t"), configured, read_only=True)
    watching = web_options(WebFlags(), configured, read_only=True)
    assert list(watching.tokens) == [Role.VIEWER]  # a read-only web dashboard has no operator
    assert web_options(WebFlags(no_auth=True), configured, read_only=False).tokens == {}


@pytest.mark.parametrize(
    "argv",
    [
        ["dashboard", "--web", "--host", "0.0.0.0"],
        ["dashboard", "--web", "--no-auth", "--host", "0.0.0.0", "--insecure-http"],
        ["dashboard", "--token-file", "/etc/hostname"],  # without --web
        ["dashboard", "--no-auth"],
    ],
)
def test_the_cli_says_one_line_and_exits_2_before_starting_anything(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHECKOUT_EMBEDDED__DATA_DIR", str(tmp_path / "data"))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err
    assert not (tmp_path / "data").exists()  # no server, no log: nothing started


# --- the token is printed once, in the first URL, and never logged -----------------------


async def test_the_token_is_never_logged(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server, markers = await serve()
    async with client() as session:
        await login(session, server, OPERATOR_TOKEN)
        await login(session, server, "a-wrong-token-0123456789")
        async with session.ws_connect(url(server, "/ws"), origin=f"http://127.0.0.1:{server.port}") as websocket:
            await wait_for_marker(markers)
            await websocket.close()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /" in logged  # the access log is on, and shows the path only
    assert OPERATOR_TOKEN not in logged and "a-wrong-token" not in logged


def test_the_banner_shows_each_token_once_in_its_url() -> None:
    options = WebOptions("127.0.0.1", 8123, TOKENS, None)
    banner = DashboardServer(IdleStack(), options, {role: "true" for role in Role}).banner()  # type: ignore[arg-type]
    text = "\n".join(banner)
    assert text.count(OPERATOR_TOKEN) == 1 and text.count(VIEWER_TOKEN) == 1
    assert f"http://127.0.0.1:8123/?token={OPERATOR_TOKEN}" in text
    assert f"http://127.0.0.1:8123/?token={VIEWER_TOKEN}" in text
    assert OPERATOR_TOKEN not in repr(DashboardSettings(web_token=OPERATOR_TOKEN))
    assert OPERATOR_TOKEN not in repr(options)


def test_insecure_http_and_no_auth_say_so_loudly() -> None:
    insecure = WebOptions("0.0.0.0", 8123, TOKENS, None, insecure_http=True)
    banner = DashboardServer(IdleStack(), insecure, {role: "true" for role in Role}).banner()  # type: ignore[arg-type]
    assert "WARNING: --insecure-http" in banner[0]
    open_ = WebOptions("127.0.0.1", 8123, {}, None)
    banner = DashboardServer(IdleStack(), open_, {Role.OPERATOR: "true"}).banner()  # type: ignore[arg-type]
    assert "--no-auth" in banner[0] and "any user of this machine" in banner[0]


def test_each_roles_tab_command() -> None:
    attach = f"{shlex.join(CHECKOUT_COMMAND)} dashboard --attach"
    both = WebOptions("127.0.0.1", 8123, TOKENS, None)
    assert tab_commands(both, read_only=False) == {Role.OPERATOR: attach, Role.VIEWER: f"{attach} --read-only"}
    watching = WebOptions("127.0.0.1", 8123, {Role.VIEWER: TOKENS[Role.VIEWER]}, None)
    assert tab_commands(watching, read_only=True) == {Role.VIEWER: f"{attach} --read-only"}
    open_ = WebOptions("127.0.0.1", 8123, {}, None)
    assert tab_commands(open_, read_only=True) == {Role.OPERATOR: f"{attach} --read-only"}
    assert tab_commands(open_, read_only=False) == {Role.OPERATOR: attach}


def test_a_taken_port_is_one_line_before_the_stack_starts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHECKOUT_EMBEDDED__DATA_DIR", str(tmp_path / "data"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["dashboard", "--web", "--port", str(port)]) == 3
    captured = capsys.readouterr()
    assert captured.err.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert "token=" not in captured.out  # no URL for a dashboard that never served
    assert not (tmp_path / "data").exists()


def test_help_shows_no_token(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CHECKOUT_DASHBOARD__WEB_TOKEN", OPERATOR_TOKEN)
    with pytest.raises(SystemExit) as done:
        cli.main(["dashboard", "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert "--token-file" in shown and "--insecure-http" in shown and OPERATOR_TOKEN not in shown
