"""The chaos soak restarts a worker that exited by itself (one started while a server was paused or
down gives up), as a service manager would, and says so in its report; it leaves alone one that the
plans are killing or pausing at that moment."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

from engine.chaos import SoakOptions, _Soak
from engine.processes import ChildProcess

GIVES_UP = [sys.executable, "-c", "import sys; print('error: NATS is unreachable'); sys.exit(3)"]


async def _until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_a_worker_that_exited_is_restarted_and_reported(tmp_path: Path) -> None:
    soak = _Soak(SoakOptions(orders=1), tmp_path, GIVES_UP, lambda _text: None, disk=None)
    worker = ChildProcess("soak", "worker-0", GIVES_UP, tmp_path / "worker-0.log")
    soak.workers.append(worker)
    soak._start(worker)
    supervisor = asyncio.create_task(soak._supervise())
    try:
        await _until(lambda: len(soak.report.restarts) >= 2)
    finally:
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
        await worker.stop()
    assert "worker-0 had exited (code 3: error: NATS is unreachable); restarted" in soak.report.restarts[0]
    assert len(soak.report.pids) >= 3  # the first start and each restart


async def test_a_worker_the_plans_hold_is_left_to_them(tmp_path: Path) -> None:
    soak = _Soak(SoakOptions(orders=1), tmp_path, GIVES_UP, lambda _text: None, disk=None)
    worker = ChildProcess("soak", "worker-0", GIVES_UP, tmp_path / "worker-0.log")
    soak.workers.append(worker)
    soak._start(worker)
    supervisor = asyncio.create_task(soak._supervise())
    try:
        async with soak.busy["worker-0"]:
            await asyncio.sleep(2.5)
            assert soak.report.restarts == []
        await _until(lambda: len(soak.report.restarts) == 1)
    finally:
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
        await worker.stop()
