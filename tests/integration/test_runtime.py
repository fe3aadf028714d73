"""Embedded servers for real: start, reuse, refuse, and never leave a process behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from engine.config import Settings
from engine.errors import ServerStartError
from engine.runtime import EmbeddedServers, free_port, is_listening, is_local

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def make_settings(data_dir: Path, mode: str, *, ports: tuple[int, int, int] | None = None, **extra: object) -> Settings:
    temporal_port, ui_port, nats_port = ports or (free_port(), free_port(), free_port())
    return Settings(
        temporal={"host": f"127.0.0.1:{temporal_port}", "ui_port": ui_port, **extra},
        nats={"url": f"nats://127.0.0.1:{nats_port}"},
        embedded={"mode": mode, "data_dir": data_dir, "startup_timeout_seconds": 30},
    )


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_is_local() -> None:
    for host in ("localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "LOCALHOST"):
        assert is_local(host), host
    for host in ("temporal.example.com", "10.0.0.5", "0.0.0.0", "192.168.1.1", "::"):
        assert not is_local(host), host


async def test_always_starts_both_servers_and_stop_leaves_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "always", namespace="orders")
    servers = EmbeddedServers(settings)
    began = time.monotonic()
    await servers.start()
    elapsed = time.monotonic() - began
    try:
        assert servers.started == ["temporal", "nats"]
        assert elapsed < settings.embedded.startup_timeout_seconds
        client = await Client.connect(settings.temporal.host, namespace="orders")
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="orders"))
        connection = await nats.connect(settings.nats.url)
        try:
            info = await connection.jetstream().account_info()
            assert info.limits is not None
        finally:
            await connection.close()
        assert is_listening("127.0.0.1", settings.temporal.web_ui_port)
        pids = list(servers.pids.values())
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
    finally:
        await servers.stop()

    assert servers.started == []
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"pid {pid} still exists after stop()"
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not is_listening("127.0.0.1", settings.temporal.port)
    assert not is_listening("127.0.0.1", settings.nats.port)
    assert (tmp_path / "temporal.db").is_file()
    assert (tmp_path / "jetstream").is_dir()
    assert (tmp_path / "logs" / "temporal.log").is_file()
    assert (tmp_path / "logs" / "nats.log").is_file()
    await servers.stop()  # idempotent


async def test_auto_uses_servers_that_already_answer(tmp_path: Path) -> None:
    ports = (free_port(), free_port(), free_port())
    first = EmbeddedServers(make_settings(tmp_path / "first", "always", ports=ports))
    await first.start()
    try:
        second = EmbeddedServers(make_settings(tmp_path / "second", "auto", ports=ports))
        async with second:
            assert second.started == []
        assert all(alive(pid) for pid in first.pids.values()), "the second object stopped servers it did not start"
        assert not (tmp_path / "second").exists()
    finally:
        await first.stop()


async def test_auto_starts_only_what_is_missing(tmp_path: Path) -> None:
    ports = (free_port(), free_port(), free_port())
    nats_only = EmbeddedServers(make_settings(tmp_path / "nats", "always", ports=ports), temporal=False)
    await nats_only.start()
    try:
        assert nats_only.started == ["nats"]
        async with EmbeddedServers(make_settings(tmp_path / "auto", "auto", ports=ports)) as auto:
            assert auto.started == ["temporal"]
            assert is_listening("127.0.0.1", ports[1])  # the Web UI of the Temporal server it started
    finally:
        await nats_only.stop()


async def test_never_starts_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "never")
    async with EmbeddedServers(settings) as servers:
        assert servers.started == []
        assert not is_listening("127.0.0.1", settings.temporal.port)
        assert not is_listening("127.0.0.1", settings.nats.port)
    assert not (tmp_path / "logs").exists()


async def test_auto_starts_nothing_for_a_remote_address(tmp_path: Path) -> None:
    settings = Settings(
        temporal={"host": "temporal.example.com:7233"},
        nats={"url": "nats://nats.example.com:4222"},
        embedded={"mode": "auto", "data_dir": tmp_path},
    )
    async with EmbeddedServers(settings) as servers:
        assert servers.started == []


@pytest.mark.parametrize("which", ["temporal", "ui", "nats"])
async def test_always_refuses_a_taken_port(tmp_path: Path, occupied_port: int, which: str) -> None:
    ports = [free_port(), free_port(), free_port()]
    ports[["temporal", "ui", "nats"].index(which)] = occupied_port
    servers = EmbeddedServers(make_settings(tmp_path, "always", ports=tuple(ports)))  # type: ignore[arg-type]
    with pytest.raises(ServerStartError) as caught:
        await servers.start()
    message = str(caught.value)
    assert message.startswith(f"port {occupied_port} is already in use; ")
    assert "\n" not in message
    assert servers.started == []
    assert not is_listening("127.0.0.1", ports[0] if which != "temporal" else ports[2])


async def test_a_server_that_dies_while_starting_names_its_log(tmp_path: Path) -> None:
    (tmp_path / "temporal.db").mkdir()  # SQLite cannot open a directory: temporal exits at once
    servers = EmbeddedServers(make_settings(tmp_path, "always"))
    with pytest.raises(ServerStartError) as caught:
        await servers.start()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("temporal exited with code ")
    assert str(tmp_path / "logs" / "temporal.log") in message
    assert servers.started == [] and servers.pids == {}


CHILD = """
import asyncio, json, sys
from engine.config import Settings
from engine.runtime import EmbeddedServers

async def main():
    servers = EmbeddedServers(Settings(**json.loads(sys.argv[1])))
    await servers.start()
    print(json.dumps(servers.pids), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_sigkilled_parent_takes_its_servers_along(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "always")
    config = settings.model_dump(mode="json", include={"temporal", "nats", "embedded"})
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    pids: list[int] = []
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), timeout=60)
        pids = list(json.loads(line).values())
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        left = await asyncio.to_thread(wait_gone, pids, 10.0)
        assert left == [], f"server processes {left} outlived their SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
