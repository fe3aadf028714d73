"""Health reflects a NATS server that keeps its connections but answers nothing (frozen)."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import cast

import nats
import pytest
from temporalio.client import Client

from engine.config import Settings
from engine.operations import Operations
from tests.support.servers import NatsServer

pytestmark = pytest.mark.integration


async def test_a_frozen_nats_server_is_down_in_health(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url, allow_reconnect=False)
    settings = Settings(nats={"url": nats_server.url}, embedded={"mode": "never"})  # type: ignore[arg-type]
    operations = Operations(settings, cast(Client, object()), nc)  # no Temporal: only NATS is checked here
    assert nats_server.pid is not None
    try:
        assert (await operations.health()).nats
        os.kill(nats_server.pid, signal.SIGSTOP)
        await asyncio.sleep(0.3)  # the signal is delivered asynchronously
        try:
            health = await operations.health()
            assert nc.is_connected, "the connection itself is still open"
            assert not health.nats
        finally:
            os.kill(nats_server.pid, signal.SIGCONT)
        assert (await operations.health()).nats
    finally:
        await nc.close()
