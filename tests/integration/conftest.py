"""A real embedded stack (temporal dev server, nats-server, services, worker) on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from engine.stack import Stack
from tests.support.servers import pid_alive
from tests.support.stack import stack_settings


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
