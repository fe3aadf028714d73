"""The one place a NATS connection is built: credentials and TLS from the settings,
reconnects forever, never prints a secret."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.errors import APIError

from engine.config import NatsSettings
from engine.errors import AccessDenied, ConfigError, Unreachable

log = logging.getLogger(__name__)


def connect_options(settings: NatsSettings) -> dict[str, Any]:
    """The `nats.connect` keyword arguments for the credentials and TLS in `settings`."""
    options: dict[str, Any] = {}
    if settings.user:
        options["user"] = settings.user
        options["password"] = settings.password.get_secret_value() if settings.password else ""
    if settings.token:
        options["token"] = settings.token.get_secret_value()
    if settings.creds_file:
        options["user_credentials"] = str(settings.creds_file)
    if settings.nkey_seed_file:
        options["nkeys_seed"] = str(settings.nkey_seed_file)
    if settings.uses_tls:
        options["tls"] = tls_context(settings)
    return options


class _HarmlessSslNotice(logging.Filter):
    """asyncio warns about its own stream protocol on every TLS connection nats-py closes; it
    means nothing to a user and would add a line to a one-line error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received() has no effect when using ssl" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_HarmlessSslNotice())


def tls_context(settings: NatsSettings) -> ssl.SSLContext:
    """Verifies the server against `tls_ca_file` (else the system's CAs); presents the client certificate if given."""
    try:
        context = ssl.create_default_context(cafile=str(settings.tls_ca_file) if settings.tls_ca_file else None)
        if settings.tls_cert_file and settings.tls_key_file:
            context.load_cert_chain(str(settings.tls_cert_file), str(settings.tls_key_file))
    except (ssl.SSLError, OSError) as error:
        reason = getattr(error, "reason", None) or type(error).__name__
        raise ConfigError(f"config keys nats.tls_*: the TLS files cannot be loaded ({reason})") from None
    return context


_PUBLISH_REFUSED = re.compile(r"permissions violation for publish to \"?([^\"\s]+)", re.IGNORECASE)


class _Refusals:
    """The publishes the server refused on one connection (it says so in an `-ERR`, and drops the
    message: a request would only time out), told to the requests waiting on that subject."""

    def __init__(self, identity: str) -> None:
        self.identity = identity
        self._waiting: dict[str, set[asyncio.Event]] = {}

    def watch(self, subject: str) -> asyncio.Event:
        event = asyncio.Event()
        self._waiting.setdefault(subject.lower(), set()).add(event)
        return event

    def unwatch(self, subject: str, event: asyncio.Event) -> None:
        self._waiting.get(subject.lower(), set()).discard(event)

    def refused(self, error: Exception) -> None:
        if match := _PUBLISH_REFUSED.search(str(error)):
            for event in self._waiting.get(match.group(1).lower(), ()):
                event.set()


_refusals: weakref.WeakKeyDictionary[NATS, _Refusals] = weakref.WeakKeyDictionary()


def _identity(settings: NatsSettings) -> str:
    """Who this connection is, as a refusal names it: the user name, never a secret."""
    if settings.user:
        return f"user {settings.user}"
    for server in settings.servers:
        userinfo, at, _ = server.partition("://")[2].rpartition("@")
        if at and ":" in userinfo:
            return f"user {userinfo.partition(':')[0]}"
    return "this connection's identity"


async def request(nc: NATS, subject: str, payload: bytes, timeout: float) -> Msg:
    """`nc.request`, but a publish the server's permissions refuse raises AccessDenied at once, with
    one line naming the identity and the subject, instead of timing out as if nobody listened."""
    refusals = _refusals.get(nc)
    if refusals is None:
        return await nc.request(subject, payload, timeout=timeout)
    refused = refusals.watch(subject)
    asking = asyncio.ensure_future(nc.request(subject, payload, timeout=timeout))
    told = asyncio.ensure_future(refused.wait())
    try:
        await asyncio.wait({asking, told}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        refusals.unwatch(subject, refused)
        told.cancel()
    if not asking.done():
        asking.cancel()
        await asyncio.gather(asking, return_exceptions=True)
        raise AccessDenied(f"NATS refused: {refusals.identity} may not publish to {subject}")
    return asking.result()


async def connect_nats(settings: NatsSettings, name: str = "checkout") -> NATS:
    """Connect, or raise Unreachable (AccessDenied for refused credentials) with one line.
    Once connected, reconnects without end."""
    seen: list[BaseException] = []
    untrusted = asyncio.Event()
    refusals = _Refusals(_identity(settings))

    async def on_error(error: Exception) -> None:
        refusals.refused(error)
        if len(seen) < 20:  # the first connect's failures explain why it failed; later ones are only logged
            seen.append(error)
        if isinstance(error, ssl.SSLCertVerificationError):
            untrusted.set()
        log.debug("nats: %s", error)

    nc = NATS()
    _refusals[nc] = refusals
    connecting = asyncio.create_task(
        nc.connect(
            settings.servers,
            name=name,
            connect_timeout=2,
            max_reconnect_attempts=2,
            reconnect_time_wait=0.2,  # type: ignore[arg-type]  # seconds; the stub says int, the code takes a float
            error_cb=on_error,
            **connect_options(settings),
        )
    )
    # nats-py never returns from connect once a server's certificate failed verification: stop waiting then.
    waiting = asyncio.create_task(untrusted.wait())
    try:
        await asyncio.wait({connecting, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
        if not connecting.done():
            connecting.cancel()
            await asyncio.wait({connecting}, timeout=1)
    error = connecting.exception() if connecting.done() and not connecting.cancelled() else None
    if error is not None or not connecting.done() or connecting.cancelled():
        await _abandon(nc)
        raise _connect_failure(settings, [*seen, *([error] if error else [])]) from None
    if settings.uses_tls and not _encrypted(nc):
        await _abandon(nc)
        raise Unreachable(f"NATS at {settings.display_url} does not offer TLS, which the settings require")
    # nats-py uses one limit for the first connect and for reconnects: give up quickly on
    # the first (a clear error for the user), then keep reconnecting for as long as we run.
    nc.options["max_reconnect_attempts"] = -1
    return nc


def _encrypted(nc: NATS) -> bool:
    """Whether the connection runs over TLS: nats-py upgrades only when the server asks for it,
    so a server (or someone in between) without TLS would otherwise get plain text."""
    writer = getattr(getattr(nc, "_transport", None), "_io_writer", None)
    return writer is not None and writer.get_extra_info("ssl_object") is not None


async def _abandon(nc: NATS) -> None:
    try:
        await asyncio.wait_for(nc.close(), 1)
    except Exception:  # a connection that never opened may fail to close; nothing is left to do
        pass


def _connect_failure(settings: NatsSettings, errors: list[BaseException]) -> Unreachable:
    """The most telling of the errors a failed connect met, as one line without secrets."""
    where = f"NATS at {settings.display_url}"
    for error in errors:
        text = str(error).lower()
        if "authorization" in text or "authentication" in text:
            why = "authorization violation" if "violation" in text else text.removeprefix("nats: ").strip("' ")
            return AccessDenied(f"{where} refused the credentials ({why})")
    for error in errors:
        if isinstance(error, ssl.SSLError):
            why = getattr(error, "verify_message", None) or error.reason or type(error).__name__
            return Unreachable(f"{where}: TLS handshake failed ({why})")
        if re.search(r"\btls\b", str(error), re.IGNORECASE):
            return Unreachable(f"{where}: {str(error).removeprefix('nats: ')[:120]}")
    return Unreachable(f"{where} is unreachable ({type(errors[-1]).__name__})")


@contextmanager
def replica_errors(replicas: int) -> Iterator[None]:
    """JetStream refusing to keep `nats.replicas` copies (a single server, too few nodes) as one config line."""
    try:
        yield
    except APIError as error:
        description = error.description or ""
        if replicas > 1 and ("replicas" in description or "insufficient resources" in description):
            raise ConfigError(
                f"config key nats.replicas: NATS cannot keep {replicas} copies here ({description})"
            ) from None
        raise
