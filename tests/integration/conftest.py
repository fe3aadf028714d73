"""A real embedded stack (temporal dev server, nats-server, services, worker) on free ports."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from engine.config import Settings
from engine.stack import Stack
from tests.conftest import free_port


def stack_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a private stack: free ports, its own data dir and task queue, short timings."""
    values: dict[str, object] = {
        "temporal": {
            "host": f"127.0.0.1:{free_port()}",
            "ui_port": free_port(),
            "task_queue": f"orders-{uuid.uuid4().hex[:8]}",
        },
        "nats": {"url": f"nats://127.0.0.1:{free_port()}", "request_timeout_seconds": 1},
        "embedded": {"mode": "always", "data_dir": data_dir},
        "saga": {"hold_seconds": 1.5, "step_timeout_seconds": 2},
        "retry": {
            "initial_interval_seconds": 0.1,
            "maximum_interval_seconds": 0.3,
            "maximum_attempts": 3,
            "compensation_maximum_interval_seconds": 0.3,
        },
    }
    values.update(overrides)
    return Settings(**values)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.fixture(scope="module")
def hold_seconds() -> float:
    """Modules that need time to act during the hold (e.g. through a subprocess) override this."""
    return 1.5


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory, hold_seconds: float) -> AsyncIterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    running = Stack(stack_settings(data_dir, saga={"hold_seconds": hold_seconds, "step_timeout_seconds": 2}))
    await running.start()
    pids = list(running.servers.pids.values())
    assert len(pids) == 2
    try:
        yield running
    finally:
        await running.stop()
        assert not [pid for pid in pids if pid_alive(pid)], "embedded servers left running"
