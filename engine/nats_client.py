"""The one place a NATS connection is built: reconnects forever, never prints."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client as NATS

from engine.config import NatsSettings
from engine.errors import Unreachable

log = logging.getLogger(__name__)


async def _log_error(error: Exception) -> None:
    log.debug("nats: %s", error)


async def connect_nats(settings: NatsSettings, name: str = "checkout") -> NATS:
    """Connect, or raise Unreachable with one line. Once connected, reconnects without end."""
    try:
        nc = await nats.connect(
            settings.url,
            name=name,
            connect_timeout=2,
            max_reconnect_attempts=2,
            reconnect_time_wait=0.2,
            error_cb=_log_error,
        )
    except Exception as error:  # nats-py raises several unrelated types for "cannot connect"
        raise Unreachable(f"NATS at {settings.url} is unreachable ({type(error).__name__})") from None
    # nats-py uses one limit for the first connect and for reconnects: give up quickly on
    # the first (a clear error for the user), then keep reconnecting for as long as we run.
    nc.options["max_reconnect_attempts"] = -1
    return nc
