"""The one way a user interface reaches checkouts: `async with connect(settings) as facade`.

The CLI's one-shot commands use it directly; `Stack` opens the same connections and
also runs the servers, services and worker on them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from temporalio.client import Client
from temporalio.runtime import Runtime

from engine.config import Settings
from engine.facade import CheckoutFacade
from engine.nats_client import connect_nats
from engine.operations import Operations
from engine.temporal_client import connect_temporal

log = logging.getLogger(__name__)


@dataclass
class Connections:
    client: Client
    nc: NATS

    async def close(self) -> None:
        try:
            await self.nc.close()
        except Exception as error:  # closing a half-dead connection must not stop a shutdown
            log.debug("closing NATS: %s", error)


async def open_connections(
    settings: Settings, *, name: str = "checkout", runtime: Runtime | None = None
) -> Connections:
    """Temporal and NATS, connected concurrently. Raises Unreachable with one line.
    `runtime`: the Temporal SDK runtime of the client (one that serves metrics)."""
    temporal, nats_ = await asyncio.gather(
        connect_temporal(settings.temporal, with_runtime=runtime),
        connect_nats(settings.nats, name=name),
        return_exceptions=True,
    )
    if isinstance(temporal, BaseException):
        if not isinstance(nats_, BaseException):
            await nats_.close()
        raise temporal
    if isinstance(nats_, BaseException):
        raise nats_
    return Connections(temporal, nats_)


@asynccontextmanager
async def connect(settings: Settings, *, name: str = "checkout-cli") -> AsyncIterator[CheckoutFacade]:
    """The facade over fresh connections, closed on exit."""
    connections = await open_connections(settings, name=name)
    try:
        yield Operations(settings, connections.client, connections.nc)
    finally:
        await connections.close()
