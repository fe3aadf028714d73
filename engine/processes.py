"""Child processes started by `checkout bench` and the chaos soak, and the CPU they spend (from /proc, Linux).

Each child runs in its own process group, so one signal reaches whatever it starts in
turn, and its CPU is the sum over the group. Children get a parent-death signal too:
a bench killed outright still takes them along.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from engine.runtime import die_with_parent

STOP_GRACE_SECONDS = 15.0
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces): [0] is the state."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, all its threads."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def _group_stats(pgid: int) -> list[list[str]]:
    """The /proc stat fields of every process in process group `pgid`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(entry.name)
        except OSError:  # gone since the scan
            continue
        if int(fields[2]) == pgid:
            found.append(fields)
    return found


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in process group `pgid`."""
    return sum(int(fields[11]) + int(fields[12]) for fields in _group_stats(pgid)) / _TICKS_PER_SECOND


def is_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        return _stat_fields(pid)[0] not in ("Z", "X")
    except OSError:
        return False


def _in_child(parent_pid: int, niceness: int) -> None:
    die_with_parent(parent_pid)
    if niceness:
        os.nice(niceness)


class ChildProcess:
    """One process of a program, with a role (worker, services) and a log file.

    By default it leads a process group of its own; with `own_group=False` it stays in ours,
    so a terminal's Ctrl-C reaches it too and whoever measures our group counts its CPU. A
    positive `niceness` runs it at a lower CPU priority than ours."""

    def __init__(
        self,
        program: str,
        role: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        *,
        own_group: bool = True,
        niceness: int = 0,
    ) -> None:
        self.program, self.role = program, role
        self.argv, self.log_path, self.env = list(argv), log_path, env
        self.own_group, self.niceness = own_group, niceness
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def label(self) -> str:
        return f"{self.program} {self.role}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> None:
        """Launch in this (the event loop's) thread: the parent-death signal follows the forking thread."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            process_group=0 if self.own_group else None,
            preexec_fn=functools.partial(_in_child, os.getpid(), self.niceness),
        )

    def kill(self) -> None:
        """SIGKILL the whole group at once, as a crash would; `start` launches it again."""
        process, self.process = self.process, None
        if process is not None:
            self._signal(process, signal.SIGKILL)
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def pause(self) -> None:
        """SIGSTOP the whole group, as a machine that stalls would: it holds its connections and
        requests in flight, and answers nothing until `resume`."""
        if self.process is not None:
            self._signal(self.process, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT what `pause` stopped: it wakes with whatever it was doing."""
        if self.process is not None:
            self._signal(self.process, signal.SIGCONT)

    def exit_code(self) -> int | None:
        """None while it runs."""
        return None if self.process is None else self.process.poll()

    def cpu_seconds(self) -> float:
        return group_cpu_seconds(self.pid)

    def last_log_line(self) -> str:
        try:
            lines = [line.strip() for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "(no log)"
        return lines[-1][:300] if lines else "(empty log)"

    async def stop(self) -> None:
        """SIGTERM (to its group, if it leads one) for a graceful stop, SIGKILL after the grace period; reap."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                self._signal(process, signal.SIGTERM)
                self._signal(process, signal.SIGCONT)  # a paused process acts on SIGTERM only once continued
                try:
                    await asyncio.to_thread(process.wait, STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    self._signal(process, signal.SIGKILL)
                    await asyncio.to_thread(process.wait)
            # Whatever the leader left behind in its group goes too. Only while the group has
            # members: they keep its id from being reused by an unrelated process.
            if self.own_group and _group_stats(process.pid):
                _signal_group(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _signal(self, process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        if self.own_group:
            _signal_group(process.pid, sig)
        else:
            process.send_signal(sig)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
