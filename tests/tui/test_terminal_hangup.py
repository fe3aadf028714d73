"""`checkout` in a real terminal that goes away (a closed window, a dropped SSH session): the
dashboard stops everything it started and exits, as after `q`, instead of hanging for ever.
And with an order in flight, q asks whether to quit, and a SIGTERM quits without asking."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.support.servers import pid_alive
from tests.support.stack import stack_settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals")


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return found
    for child in children:
        found += [child, *descendants(child)]
    return found


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone since it was listed
        return b""


def read_until(fd: int, wanted: Callable[[bytes], bool], timeout: float) -> bytes:
    """Drain the terminal until `wanted()` holds (the output so far) or the time is up."""
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the child has gone and the terminal with it
                break
        if wanted(seen):
            break
    return seen


def test_a_hung_up_terminal_stops_the_dashboard_and_what_it_started(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    settings = stack_settings(tmp_path / "data", dashboard={"worker_processes": 1})
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CHECKOUT_") and k not in ("TEMPORAL_HOST", "NATS_URL")
    }
    env |= {"CHECKOUT_CONFIG": str(config), "TERM": "xterm-256color"}

    pid, terminal = pty.fork()
    if pid == 0:  # the child: a session of its own, the terminal its controlling one
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "tui.cli"], env)
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        screen = read_until(terminal, lambda seen: b"in flight" in seen, timeout=60)
        assert b"in flight" in screen, screen[-2000:]
        started: list[int] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the servers and, after the first full screen, the worker process
            started = descendants(pid)
            if any(b"worker" in command_line(child) for child in started):
                break
            read_until(terminal, lambda _: False, timeout=0.2)
        assert len(started) >= 3, "temporal, nats-server and a worker process"
    finally:
        os.close(terminal)  # the hang-up

    deadline = time.monotonic() + 30
    exited = 0
    while time.monotonic() < deadline and not exited:
        exited, status = os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if not exited:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        for child in started:
            if pid_alive(child):
                os.kill(child, 9)
        pytest.fail("the dashboard hung after its terminal went away")
    for _ in range(100):
        if not any(pid_alive(child) for child in started):
            break
        time.sleep(0.1)
    assert not [child for child in started if pid_alive(child)], "a process it started outlived it"


def test_q_asks_about_orders_in_flight_and_sigterm_quits_without_asking(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    settings = stack_settings(tmp_path / "data", saga={"hold_seconds": 120, "step_timeout_seconds": 2})
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CHECKOUT_") and k not in ("TEMPORAL_HOST", "NATS_URL")
    }
    env |= {"CHECKOUT_CONFIG": str(config), "TERM": "xterm-256color"}

    pid, terminal = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "tui.cli"], env)
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started: list[int] = []
    exited = 0
    try:
        screen = read_until(terminal, lambda seen: b"in flight" in seen, timeout=60)
        assert b"in flight" in screen, screen[-2000:]
        deadline = time.monotonic() + 30
        while True:  # the dashboard's worker polls once its stack has started
            trigger = subprocess.run(
                [sys.executable, "-m", "tui.cli", "trigger", "--no-wait", "--order-id", "sigterm1"],
                env=env,
                cwd=ROOT,
                capture_output=True,
            )
            if trigger.returncode == 0 or time.monotonic() > deadline:
                break
            read_until(terminal, lambda _: False, timeout=0.5)
        assert trigger.returncode == 0, trigger.stderr
        started = descendants(pid)
        shown = read_until(terminal, lambda seen: b"sigterm1" in seen, timeout=30)
        assert b"sigterm1" in shown, "the order's row"
        os.write(terminal, b"q")
        asked = read_until(terminal, lambda seen: b"order in flight?" in seen, timeout=10)
        assert b"Quit with 1 order in flight?" in asked, asked[-2000:]
        os.write(terminal, b"\x1b")  # Stay: the question goes, the order is still in flight
        read_until(terminal, lambda _: False, timeout=1.5)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not exited:
            read_until(terminal, lambda _: False, timeout=0.1)
            exited, status = os.waitpid(pid, os.WNOHANG)
        assert exited, "SIGTERM did not quit the dashboard with an order in flight"
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(terminal)
        if not exited:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        for child in started:
            if pid_alive(child):
                os.kill(child, 9)
    for _ in range(100):
        if not any(pid_alive(child) for child in started):
            break
        time.sleep(0.1)
    assert not [child for child in started if pid_alive(child)], "a process it started outlived it"
