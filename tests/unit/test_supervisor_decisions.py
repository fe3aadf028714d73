"""The supervisor's decisions over a stand-in for EmbeddedServers (the real servers: tests/tui/test_supervision.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from engine import supervision
from engine.errors import ServerStartError
from engine.runtime import EmbeddedServers
from engine.supervision import ServerEvent, ServerEventKind, Supervisor, exit_description


class Servers:
    """What the supervisor uses of EmbeddedServers: `started`, `exited()`, `restart()`, `pids`."""

    def __init__(self, failures: int = 0) -> None:
        self.started = ["temporal", "nats"]
        self.dead: dict[str, int] = {}
        self.failures = failures  # restarts that fail before one succeeds
        self.restarts: list[str] = []
        self.pids = {"temporal": 100, "nats": 200}

    def exited(self) -> dict[str, int]:
        return dict(self.dead)

    async def restart(self, name: str) -> None:
        self.restarts.append(name)
        if self.failures:
            self.failures -= 1
            raise ServerStartError("port 7233 is already in use")
        del self.dead[name]
        self.pids[name] += 1


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervision, "WATCH_SECONDS", 0.01)
    monkeypatch.setattr(supervision, "BACKOFF_SECONDS", 0.02)


async def until(predicate: Callable[[], object], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        for _ in iter(lambda: bool(predicate()), True):
            await asyncio.sleep(0.01)


async def test_a_server_that_died_is_restarted_once_and_each_step_is_told() -> None:
    servers, events = Servers(), []
    supervisor = Supervisor(cast(EmbeddedServers, servers), events.append, Path("/data"))
    supervisor.start()
    try:
        servers.dead["nats"] = -9
        await until(lambda: len(events) == 2)
        await asyncio.sleep(0.1)  # and nothing more
    finally:
        await supervisor.stop()
    assert servers.restarts == ["nats"]
    assert [(e.server, e.kind) for e in events] == [
        ("nats", ServerEventKind.EXITED),
        ("nats", ServerEventKind.RESTARTED),
    ]
    assert events[0].message == "nats-server exited (killed by SIGKILL): restarting it on /data in 0.02 s"
    assert events[1].message == "nats-server restarted (pid 201) on /data"
    assert events[0].is_problem and not events[1].is_problem


async def test_failed_restarts_are_tried_again_with_a_doubling_delay() -> None:
    servers, events = Servers(failures=3), []
    supervisor = Supervisor(cast(EmbeddedServers, servers), events.append, Path("/data"))
    supervisor.start()
    try:
        servers.dead["temporal"] = 1
        await until(lambda: events and events[-1].kind is ServerEventKind.RESTARTED)
    finally:
        await supervisor.stop()
    assert servers.restarts == ["temporal"] * 4
    failed = [e.message for e in events if e.kind is ServerEventKind.RESTART_FAILED]
    assert failed == [
        f"Temporal server did not restart: port 7233 is already in use; next try in {delay:g} s"
        for delay in (0.04, 0.08, 0.16)
    ]
    assert "exit code 1" in events[0].message


async def test_a_server_that_dies_again_soon_waits_longer() -> None:
    servers, events = Servers(), []
    supervisor = Supervisor(cast(EmbeddedServers, servers), events.append, Path("/data"))
    supervisor.start()
    try:
        for expected in (0.02, 0.04, 0.08):
            servers.dead["nats"] = -9
            await until(lambda: "nats" not in servers.dead)
            assert f"in {expected:g} s" in [e.message for e in events if e.kind is ServerEventKind.EXITED][-1]
    finally:
        await supervisor.stop()


async def test_stop_cancels_a_restart_under_way_and_a_listener_error_does_not_stop_it() -> None:
    servers = Servers(failures=1000)

    def broken(_event: ServerEvent) -> None:
        raise RuntimeError("listener bug")

    supervisor = Supervisor(cast(EmbeddedServers, servers), broken, Path("/data"))
    supervisor.start()
    servers.dead["nats"] = -9
    await until(lambda: len(servers.restarts) >= 2)
    await supervisor.stop()
    tried = len(servers.restarts)
    await asyncio.sleep(0.2)
    assert len(servers.restarts) == tried and not supervisor.running


def test_exit_descriptions() -> None:
    assert exit_description(-9) == "killed by SIGKILL"
    assert exit_description(-15) == "killed by SIGTERM"
    assert exit_description(2) == "exit code 2"
