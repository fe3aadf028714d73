"""The embedded servers put every acknowledged write on disk (embedded.durable), and read the
data directories that earlier versions wrote."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import nats
import pytest

from engine.config import Settings
from engine.runtime import NATS_CONFIG_FILE, EmbeddedServers, free_port
from tests.support.servers import NatsServer

pytestmark = pytest.mark.integration


def embedded_settings(data_dir: Path, *, durable: bool, monitor_port: int = 0) -> Settings:
    return Settings(
        temporal={"host": f"127.0.0.1:{free_port()}", "ui_port": free_port()},
        nats={"url": f"nats://127.0.0.1:{free_port()}"},
        embedded={"mode": "always", "data_dir": data_dir, "durable": durable, "nats_monitor_port": monitor_port},
    )


def varz(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/varz", timeout=5) as response:
        answer: dict[str, object] = json.load(response)
        return answer


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


@pytest.mark.parametrize("durable", [True, False])
async def test_the_servers_sync_each_write_only_when_durable(tmp_path: Path, durable: bool) -> None:
    monitor = free_port()
    settings = embedded_settings(tmp_path, durable=durable, monitor_port=monitor)
    async with EmbeddedServers(settings) as servers:
        jetstream = (await asyncio.to_thread(varz, monitor))["jetstream"]
        assert isinstance(jetstream, dict)
        assert bool(jetstream["config"].get("sync_always")) is durable
        assert jetstream["config"]["store_dir"] == str(tmp_path / "jetstream" / "jetstream")
        argv = cmdline(servers.pids["temporal"])
        expected = "synchronous=full" if durable else "synchronous=normal"
        assert [argv[i + 1] for i, arg in enumerate(argv) if arg == "--sqlite-pragma"] == ["journal_mode=wal", expected]
    assert (tmp_path / NATS_CONFIG_FILE).is_file()


async def test_a_store_written_by_the_flags_of_earlier_versions_is_read(tmp_path: Path) -> None:
    """Earlier versions started nats-server with `-sd <data_dir>/jetstream`; the config file keeps that store."""
    old = NatsServer(tmp_path / "jetstream")
    old.start()
    try:
        connection = await nats.connect(old.url)
        kv = await connection.jetstream().create_key_value(bucket="checkout_ledger")
        await kv.put("totals", b'{"charged_cents": 3999, "refunded_cents": 0}')
        await connection.close()
    finally:
        old.stop()
    settings = embedded_settings(tmp_path, durable=True)
    async with EmbeddedServers(settings, temporal=False):
        connection = await nats.connect(settings.nats.url)
        try:
            entry = await (await connection.jetstream().key_value("checkout_ledger")).get("totals")
            assert entry.value == b'{"charged_cents": 3999, "refunded_cents": 0}'
        finally:
            await connection.close()
