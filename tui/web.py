"""`checkout dashboard --web`: textual-serve's dashboard behind tokens, a session cookie and an Origin check.

textual-serve has no authentication of its own. Its aiohttp application gets one middleware
here, in front of every route (the page, the websocket, the downloads, the static files):

- A token comes once in the URL (`/?token=...`, printed at start, as Jupyter does) and is
  exchanged for a cookie (HttpOnly, SameSite=Strict, Secure under TLS); the browser is then
  sent to the same URL without the token. The cookie is an HMAC of the token, so it survives
  a restart with the same token and dies when the token changes.
- Two roles: the operator token's tabs run `checkout dashboard --attach`, the read-only
  token's tabs the same with `--read-only` (a wall screen that watches and cannot act).
- The websocket also needs an Origin equal to the page's own (other sites, and other ports of
  the same host, which count as the same site for cookies, cannot drive it).
- The page's URLs (websocket, static files) come from the request's Host, so a browser on
  another machine gets addresses it can reach, never `ws://0.0.0.0:...`. On loopback only
  loopback names are answered (against DNS rebinding, which matters most with `--no-auth`).
- Every response forbids loading anything from another host (Content-Security-Policy).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import ipaddress
import logging
import os
import re
import secrets
import shlex
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from pydantic import SecretStr
from textual_serve.server import Server

from engine.config import EmbeddedMode, Settings
from engine.errors import InvalidInput, ServerStartError
from tui.config import CHECKOUT_COMMAND, DashboardSettings, dashboard_settings
from tui.entry import dashboard_stack, logging_to

if TYPE_CHECKING:
    from engine.stack import Stack

TOKEN_PARAMETER = "token"
MIN_TOKEN_LENGTH = 16
TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9._~-]+")  # what a URL carries as is
HOST_HEADER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")
SESSION_MESSAGE = b"checkout-ops web session v1"
# Inline script and style are the page's own (textual-serve's template); nothing outside this
# host is allowed, so a stray outside reference fails in the browser rather than leaking.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
# textual-serve's page loads Roboto Mono from an outside host; the same font ships in its static files.
OUTSIDE_LINK = re.compile(r"<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", re.IGNORECASE)
LOCAL_FONT = (
    '<style>@font-face { font-family: "Roboto Mono"; font-weight: 100 700; '
    'src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }</style>'
)
REFUSED = "checkout-ops: open the dashboard with the URL that `checkout dashboard --web` printed (it carries a token)"


class Role(StrEnum):
    OPERATOR = "operator"
    VIEWER = "read-only"


@dataclass(frozen=True)
class WebFlags:
    """The `dashboard --web` flags as given, before they are checked."""

    host: str = "127.0.0.1"
    port: int = 8000
    token_file: Path | None = None
    read_only_token_file: Path | None = None
    no_auth: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_http: bool = False


@dataclass(frozen=True)
class WebOptions:
    """Checked: where to listen, the token of each role (none with `--no-auth`), TLS or not."""

    host: str
    port: int
    tokens: Mapping[Role, SecretStr]
    tls: ssl.SSLContext | None
    insecure_http: bool = False

    @property
    def auth(self) -> bool:
        return bool(self.tokens)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: only this machine can reach it."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _read_token(path: Path, flag: str) -> SecretStr:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{flag} {path}: cannot read it ({type(error).__name__})") from None
    return _checked_token(text, f"{flag} {path}")


def _checked_token(text: str, where: str) -> SecretStr:
    if len(text) < MIN_TOKEN_LENGTH or not TOKEN_CHARACTERS.fullmatch(text):
        raise InvalidInput(f"{where}: a token needs {MIN_TOKEN_LENGTH}+ characters among A-Z a-z 0-9 . _ ~ -")
    return SecretStr(text)


def _tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "reason", None) or type(error).__name__
        raise InvalidInput(f"--tls-cert {cert} / --tls-key {key}: cannot load them ({reason})") from None
    return context


def web_options(flags: WebFlags, dashboard: DashboardSettings, *, read_only: bool) -> WebOptions:
    """Check the flags together; an InvalidInput (one line, exit code 2) before anything starts.

    `read_only` (the web dashboard as a whole watches only) leaves the read-only token alone."""
    if not 1 <= flags.port <= 65535:
        raise InvalidInput(f"--port {flags.port}: between 1 and 65535")
    loopback = is_loopback(flags.host)
    if flags.no_auth:
        if not loopback:
            raise InvalidInput(f"--no-auth is allowed only on a loopback --host (127.0.0.1, ::1), not {flags.host}")
        if flags.token_file or flags.read_only_token_file:
            raise InvalidInput("--no-auth and a token file contradict each other: give one of them")
    if (flags.tls_cert is None) != (flags.tls_key is None):
        raise InvalidInput("--tls-cert and --tls-key go together")
    if flags.tls_cert is not None and flags.insecure_http:
        raise InvalidInput("--insecure-http and --tls-cert contradict each other: give one of them")
    if not loopback and flags.tls_cert is None and not flags.insecure_http:
        raise InvalidInput(
            f"--host {flags.host} is reachable from other machines: give --tls-cert and --tls-key"
            " (or --insecure-http, which sends the token in clear text)"
        )
    if read_only and flags.token_file:
        raise InvalidInput(
            "a read-only web dashboard (--read-only, dashboard.read_only) has no operator token:"
            " give --read-only-token-file instead of --token-file"
        )
    tls = _tls_context(flags.tls_cert, flags.tls_key) if flags.tls_cert and flags.tls_key else None
    if flags.no_auth:
        return WebOptions(flags.host, flags.port, {}, tls)
    tokens: dict[Role, SecretStr] = {}
    if not read_only:
        if flags.token_file:
            tokens[Role.OPERATOR] = _read_token(flags.token_file, "--token-file")
        elif dashboard.web_token is not None:
            tokens[Role.OPERATOR] = _checked_token(dashboard.web_token.get_secret_value(), "dashboard.web_token")
        else:
            tokens[Role.OPERATOR] = SecretStr(secrets.token_urlsafe(32))
    if flags.read_only_token_file:
        tokens[Role.VIEWER] = _read_token(flags.read_only_token_file, "--read-only-token-file")
    elif dashboard.web_read_only_token is not None:
        secret = dashboard.web_read_only_token.get_secret_value()
        tokens[Role.VIEWER] = _checked_token(secret, "dashboard.web_read_only_token")
    else:
        tokens[Role.VIEWER] = SecretStr(secrets.token_urlsafe(32))
    values = [token.get_secret_value() for token in tokens.values()]
    if len(set(values)) != len(values):
        raise InvalidInput("the operator token and the read-only token must differ")
    return WebOptions(flags.host, flags.port, tokens, tls, insecure_http=flags.insecure_http and not loopback)


class WebAuth:
    """Who a request is: by its token (once) or its session cookie; tokens compared in constant time."""

    def __init__(self, tokens: Mapping[Role, SecretStr], *, port: int, secure: bool) -> None:
        self._digests = {role: _digest(token.get_secret_value().encode()) for role, token in tokens.items()}
        self._sessions = {
            role: hmac.new(token.get_secret_value().encode(), SESSION_MESSAGE, hashlib.sha256).hexdigest()
            for role, token in tokens.items()
        }
        # Cookies ignore ports: two dashboards on one host must not take each other's.
        self.cookie_name = f"checkout-ops-{port}"
        self.secure = secure

    def role_of_token(self, token: str) -> Role | None:
        given = _digest(token.encode())
        found = None
        for role, digest in self._digests.items():  # every role compared: no early way out
            if hmac.compare_digest(given, digest):
                found = role
        return found

    def role_of_cookie(self, value: str) -> Role | None:
        found = None
        for role, session in self._sessions.items():
            if hmac.compare_digest(value.encode(), session.encode()):
                found = role
        return found

    def set_session(self, response: web.StreamResponse, role: Role) -> None:
        response.set_cookie(
            self.cookie_name, self._sessions[role], httponly=True, samesite="Strict", secure=self.secure, path="/"
        )


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class RequestView:
    """What the request being served may see: its role and the base URL its browser used."""

    role: Role
    base_url: str


_current_request: ContextVar[RequestView] = ContextVar("checkout_web_request")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_middleware(options: WebOptions, auth: WebAuth | None) -> Any:
    """The middleware in front of all of textual-serve's routes (see the module's docstring)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if not HOST_HEADER.fullmatch(host):
            return _refuse(400, "checkout-ops: a bad Host header")
        # A loopback dashboard answers only to loopback names: a page elsewhere that points its
        # own name at 127.0.0.1 (DNS rebinding) gets nothing, even with --no-auth.
        if options.loopback and not is_loopback(_host_name(host)):
            return _refuse(403, "checkout-ops: this dashboard answers only to 127.0.0.1 or localhost")
        base_url = f"{request.scheme}://{host}"
        if auth is not None and TOKEN_PARAMETER in request.query:
            by_token = auth.role_of_token(request.query[TOKEN_PARAMETER])
            if by_token is None:
                return _refuse(401, "checkout-ops: that token is not valid")
            response = _redirect_without_token(request)
            auth.set_session(response, by_token)
            return response
        role = Role.OPERATOR if auth is None else auth.role_of_cookie(request.cookies.get(auth.cookie_name, ""))
        if role is None:
            return _refuse(401, REFUSED)
        if request.path == "/ws" and request.headers.get("Origin", "").lower() != base_url.lower():
            return _refuse(403, "checkout-ops: a websocket from another origin")
        _current_request.set(RequestView(role, base_url))
        response = await handler(request)
        _secure_headers(response)
        return response

    return middleware


def _host_name(host_header: str) -> str:
    """`name`, `name:port`, `[::1]:port` -> the name or address alone."""
    if host_header.startswith("["):
        return host_header[1 : host_header.index("]")]
    return host_header.rsplit(":", 1)[0]


def _refuse(status: int, text: str) -> web.StreamResponse:
    response = web.Response(status=status, text=text + "\n")
    _secure_headers(response)
    return response


def _redirect_without_token(request: web.Request) -> web.StreamResponse:
    """The same URL without the token, so it leaves the address bar and the history.

    A page that does the redirect, rather than a 3xx: after a token link clicked on another
    site, a 3xx is still that site's navigation and the SameSite=Strict cookie would not come
    with it; a navigation started by our own page does carry it."""
    query = request.url.query.copy()
    query.popall(TOKEN_PARAMETER)
    target = str(request.rel_url.with_query(query))
    refresh = f'<meta http-equiv="refresh" content="0;url={html.escape(target)}">'
    body = f"<!DOCTYPE html>{refresh}<title>checkout-ops</title>"
    response = web.Response(text=body, content_type="text/html")
    _secure_headers(response)
    return response


def _secure_headers(response: web.StreamResponse) -> None:
    if response.prepared:  # a websocket: its headers went with the handshake
        return
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"


class LocalAssetsLoader(jinja2.FileSystemLoader):
    """textual-serve's templates, with each link to an outside host replaced by the font served here."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        return OUTSIDE_LINK.sub(LOCAL_FONT, source), filename, uptodate


class AccessLogWithoutQuery(AbstractAccessLogger):
    """Requests as method, path and status: never the query string, which may carry a token."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %.3fs', request.remote, request.method, request.path, response.status, time)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


# How the web server runs, beside host, port and TLS (the tests run it the same way).
RUNNER_OPTIONS: dict[str, Any] = {"access_log_class": AccessLogWithoutQuery}


class DashboardServer(Server):
    """textual-serve's Server with the middleware, local assets, and a command and URLs per request.

    textual-serve reads `command` when a websocket opens and `public_url` when the page is
    rendered, both in the request's own task: here they are the current request's (its role's
    command, the Host its browser used), which the middleware puts in a context variable."""

    def __init__(self, stack: Stack, options: WebOptions, commands: Mapping[Role, str]) -> None:
        self._commands = commands
        super().__init__("", title="checkout-ops")  # its command and URL: the properties below
        self.stack = stack
        self.options = options
        self.auth = WebAuth(options.tokens, port=options.port, secure=options.tls is not None) if options.auth else None
        scheme = "https" if options.tls else "http"
        self.printed_url = f"{scheme}://{_url_host(options.host)}:{options.port}"
        """The address printed at start (a browser's own Host gives the page its URLs)."""

    @property
    def command(self) -> str:
        view = _current_request.get(None)
        return self._commands[view.role] if view else ""

    @command.setter
    def command(self, _value: str) -> None:
        """Set by Server.__init__; the commands per role are ours."""

    @property
    def public_url(self) -> str:
        view = _current_request.get(None)
        return view.base_url if view else self.printed_url

    @public_url.setter
    def public_url(self, _value: str) -> None:
        """Set by Server.__init__ from its host and port; ours come from each request."""

    async def make_app(self) -> web.Application:
        app = await self._make_app()
        aiohttp_jinja2.setup(app, loader=LocalAssetsLoader(self.templates_path))
        app.middlewares.append(auth_middleware(self.options, self.auth))
        return app

    async def on_startup(self, app: web.Application) -> None:
        await self.stack.start()
        self.stack.start_helpers()
        # The tabs' dashboards use the servers this process runs (or found): they only connect.
        os.environ["CHECKOUT_EMBEDDED__MODE"] = EmbeddedMode.NEVER.value
        for line in self.banner():
            self.console.print(line, highlight=False, soft_wrap=True)

    def banner(self) -> list[str]:
        """What is printed once at start: the URLs, each with its token (only here, never in a log)."""
        options = self.options
        lines = []
        if options.insecure_http:
            lines.append(
                "[bold red]WARNING: --insecure-http: the token and the whole session cross the network in clear"
                " text; anyone on the way can take the dashboard over. Use --tls-cert and --tls-key.[/]"
            )
        if not options.auth:
            lines.append(
                "[bold yellow]--no-auth: no token is asked for; any user of this machine can operate the dashboard[/]"
            )
            lines.append(f"checkout-ops dashboard on {self.printed_url}/ (Ctrl-C stops)")
            return lines
        for role, token in options.tokens.items():
            label = "checkout-ops dashboard" if role is Role.OPERATOR else "read-only dashboard (watch only)"
            lines.append(f"{label}: {self.printed_url}/?{TOKEN_PARAMETER}={token.get_secret_value()}")
        if not options.loopback:
            lines.append(f"(this machine's name is shown: any of its addresses on port {options.port} works)")
        lines.append("Ctrl-C stops.")
        return lines

    async def on_shutdown(self, app: web.Application) -> None:
        await self.stack.stop()


def _url_host(host: str) -> str:
    """The host part of a printed URL: this machine's name for a wildcard address."""
    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def tab_commands(options: WebOptions, *, read_only: bool) -> dict[Role, str]:
    """The command each role's browser tab runs: a dashboard attached to this process's stack."""
    attach = [*CHECKOUT_COMMAND, "dashboard", "--attach"]
    watch = shlex.join([*attach, "--read-only"])
    commands = {Role.OPERATOR: watch if read_only else shlex.join(attach), Role.VIEWER: watch}
    if options.auth:
        return {role: commands[role] for role in options.tokens}
    return {Role.OPERATOR: commands[Role.OPERATOR]}


def run_web(settings: Settings, flags: WebFlags, *, attach: bool = False, read_only: bool = False) -> int:
    """`checkout dashboard --web`: serve the dashboard to browsers, on loopback by default.

    This process runs the stack (servers when needed, worker and services unless `attach`);
    each browser tab gets its own `checkout dashboard --attach` process over it."""
    dashboard = dashboard_settings(settings.dashboard)  # a ConfigError: one line, exit code 2
    read_only = read_only or dashboard.read_only
    options = web_options(flags, dashboard, read_only=read_only)  # bad flags: nothing started
    _check_can_listen(options.host, options.port)  # before the stack starts and the URLs are printed
    stack = dashboard_stack(settings, dashboard, attach=attach)
    server = DashboardServer(stack, options, tab_commands(options, read_only=read_only))
    try:
        with logging_to(settings.embedded.data_dir / "logs" / "web.log"):
            serve(server)
    except OSError as error:
        print(f"cannot serve on {flags.host}:{flags.port}: {error.strerror or error}", file=sys.stderr)
        return 3
    finally:
        asyncio.run(stack.stop())  # idempotent: covers a failed start
    return 0


def _check_can_listen(host: str, port: int) -> None:
    """A ServerStartError (one line) when the address is taken or unknown: aiohttp would find out
    only after the stack had started."""
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ServerStartError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                raise ServerStartError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def serve(server: DashboardServer) -> None:
    """Until SIGINT or SIGTERM: textual-serve's own serve() without its log setup, with TLS and our access log."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_exit)
    web.run_app(
        server.make_app(),
        host=server.options.host,
        port=server.options.port,
        ssl_context=server.options.tls,
        handle_signals=False,
        loop=loop,
        print=None,
        **RUNNER_OPTIONS,
    )
