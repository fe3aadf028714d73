"""Pausing embedded servers: clients' requests time out while one is stopped, answer again once it
continues, and a paused server still stops gracefully; only a server this stack runs can be paused."""

from __future__ import annotations

import signal
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout

from engine.config import Settings
from engine.errors import InvalidInput
from engine.runtime import EmbeddedServers, private_server_settings
from tests.support.servers import pid_alive

pytestmark = pytest.mark.integration


async def test_a_paused_nats_server_answers_nothing_until_it_is_continued(tmp_path: Path) -> None:
    settings = private_server_settings(Settings(), tmp_path)
    servers = EmbeddedServers(settings, temporal=False)
    await servers.start()
    process = servers._servers["nats"].process
    assert process is not None
    nc = await nats.connect(settings.nats.url)
    # Requests, not flush(timeout): nats-py's read loop dies on the late PONG of a flush that timed out.

    async def echo(message: Msg) -> None:
        await message.respond(message.data)

    await nc.subscribe("pause.echo", cb=echo)
    try:
        assert (await nc.request("pause.echo", b"before", timeout=5)).data == b"before"
        servers.pause("nats")
        with pytest.raises(NatsTimeout):
            await nc.request("pause.echo", b"during", timeout=1)
        servers.resume("nats")
        assert (await nc.request("pause.echo", b"after", timeout=10)).data == b"after"
        servers.pause("nats")
    finally:
        await nc.close()
        await servers.stop()
    assert process.returncode != -signal.SIGKILL  # the paused server took the SIGTERM
    assert not pid_alive(process.pid)


async def test_only_a_running_server_of_this_stack_can_be_paused(tmp_path: Path) -> None:
    servers = EmbeddedServers(private_server_settings(Settings(), tmp_path), temporal=False, nats=False)
    with pytest.raises(InvalidInput, match="nats is not a server this stack started and runs"):
        servers.pause("nats")
