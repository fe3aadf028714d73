"""Pausing a child process: its whole group stops and continues, and a paused one still stops gracefully."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from engine.processes import ChildProcess, _stat_fields, is_alive

# A leader that starts a child in its group, then waits on it: both must stop and continue.
FAMILY = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(600)'])"


def _group_states(pgid: int) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat_fields(entry.name)
            except OSError:
                continue
            if int(fields[2]) == pgid:
                found.append(fields[0])
    return found


def _until(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


async def test_pause_stops_the_whole_group_and_resume_continues_it(tmp_path: Path) -> None:
    family = ChildProcess("test", "family", [sys.executable, "-c", FAMILY], tmp_path / "family.log")
    family.start()
    try:
        assert _until(lambda: len(_group_states(family.pid)) == 2), "the child did not start"
        family.pause()
        assert _until(lambda: _group_states(family.pid) == ["T", "T"]), _group_states(family.pid)
        family.resume()
        assert _until(lambda: "T" not in _group_states(family.pid)), _group_states(family.pid)
    finally:
        await family.stop()


async def test_a_paused_process_stops_on_sigterm_without_waiting_for_the_sigkill(tmp_path: Path) -> None:
    sleeper = ChildProcess(
        "test", "sleeper", [sys.executable, "-c", "import time; time.sleep(600)"], tmp_path / "s.log"
    )
    sleeper.start()
    process = sleeper.process
    assert process is not None
    sleeper.pause()
    assert _until(lambda: _group_states(process.pid) == ["T"])
    await sleeper.stop()
    assert process.returncode == -signal.SIGTERM  # not -SIGKILL, after the whole grace period
    assert not is_alive(process.pid)
