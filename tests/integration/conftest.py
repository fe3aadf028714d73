"""A real embedded stack (temporal dev server, nats-server, services, worker) on free ports."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from engine.stack import Stack
from tests.support.lazyfs import LazyFs, unavailable
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


@pytest_asyncio.fixture
async def lazy_disk(tmp_path: Path) -> AsyncIterator[LazyFs]:
    """A mounted filesystem that loses un-fsynced writes at a cut (tests/support/lazyfs.py).

    Without FUSE the test skips, except under CI=true, where CI installs fuse3 and a
    missing FUSE is a failure."""
    reason = unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the power-cut tests, but FUSE is unavailable: {reason}")
        pytest.skip(f"FUSE unavailable: {reason}")
    disk = LazyFs(tmp_path / "disk", tmp_path / "mnt")
    await disk.mount()
    try:
        yield disk
    finally:
        daemons = disk.daemon_pids
        await disk.unmount()
        assert not disk.mounted(), "the lazy mount was left mounted"
        assert not [pid for pid in daemons if pid_alive(pid)], "a lazyfs daemon was left running"
