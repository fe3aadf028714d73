"""Supervision: the process that started an embedded server restarts it when it dies.

A `Supervisor` watches the servers an `EmbeddedServers` started. One that exits by itself
(a crash, an out-of-memory kill, a SIGKILL from outside) is started again on the same data
directory with `EmbeddedServers.restart`, after a delay that doubles at each failed or
short-lived try (`BACKOFF_SECONDS`, up to `MAX_BACKOFF_SECONDS`). Each step is a
`ServerEvent`, handed to the listener and logged (at INFO: the listener is the one that speaks;
the dashboard keeps these lines in its log whatever the level). A server stopped on purpose
(`EmbeddedServers.kill`, `stop`) is left alone: chaos tests restart those themselves.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from engine.errors import CheckoutError
from engine.runtime import EmbeddedServers

log = logging.getLogger(__name__)

WATCH_SECONDS = 0.2
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
STEADY_SECONDS = 60.0  # a server that ran this long before dying starts again from the first delay
LABELS = {"temporal": "Temporal server", "nats": "nats-server"}


class ServerEventKind(StrEnum):
    EXITED = "exited"
    RESTARTED = "restarted"
    RESTART_FAILED = "restart_failed"


@dataclass(frozen=True)
class ServerEvent:
    """One step of a supervised server's life: `message` is the one line an operator reads."""

    server: str  # "temporal" or "nats"
    kind: ServerEventKind
    message: str

    @property
    def is_problem(self) -> bool:
        return self.kind is not ServerEventKind.RESTARTED


ServerListener = Callable[[ServerEvent], None]


def exit_description(code: int) -> str:
    """`-9` -> "killed by SIGKILL", `1` -> "exit code 1"."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    """Restarts the servers of `servers` that die, until `stop()`."""

    def __init__(self, servers: EmbeddedServers, listener: ServerListener, data_dir: Path) -> None:
        self._servers = servers
        self._listener = listener
        self._data_dir = data_dir
        self._task: asyncio.Task[None] | None = None
        self._restarting: dict[str, asyncio.Task[None]] = {}
        self._delay: dict[str, float] = {}
        self._up_since: dict[str, float] = {}

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            now = time.monotonic()
            self._up_since = {name: now for name in self._servers.started}
            self._task = asyncio.create_task(self._watch(), name="server-supervisor")

    async def stop(self) -> None:
        """Stop watching and cancel a restart under way (before the servers themselves stop)."""
        tasks = [task for task in (self._task, *self._restarting.values()) if task is not None]
        self._task = None
        self._restarting.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self) -> None:
        while True:
            for name, code in self._servers.exited().items():
                if name not in self._restarting:
                    self._restarting[name] = asyncio.create_task(self._restart(name, code), name=f"restart-{name}")
            await asyncio.sleep(WATCH_SECONDS)

    async def _restart(self, name: str, code: int) -> None:
        label = LABELS.get(name, name)
        try:
            delay = self._delay_after_exit(name)
            self._report(
                name,
                ServerEventKind.EXITED,
                f"{label} exited ({exit_description(code)}): restarting it on {self._data_dir} in {delay:g} s",
            )
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._servers.restart(name)
                except Exception as error:  # a port taken, a binary gone: try again later
                    why = error.message if isinstance(error, CheckoutError) else f"{type(error).__name__}: {error}"
                    delay = self._delay_after_failure(name)
                    self._report(
                        name, ServerEventKind.RESTART_FAILED, f"{label} did not restart: {why}; next try in {delay:g} s"
                    )
                    continue
                self._up_since[name] = time.monotonic()
                pid = self._servers.pids.get(name)
                if pid is None:  # auto mode: another process started one on its port first, and it is used
                    self._report(name, ServerEventKind.RESTARTED, f"another {label} answers on its port: using it")
                else:
                    self._report(name, ServerEventKind.RESTARTED, f"{label} restarted (pid {pid}) on {self._data_dir}")
                return
        finally:
            if self._restarting.get(name) is asyncio.current_task():
                del self._restarting[name]

    def _delay_after_exit(self, name: str) -> float:
        """The first delay after a steady run; twice the last one after a short one."""
        ran = time.monotonic() - self._up_since.get(name, time.monotonic())
        last = self._delay.get(name)
        delay = BACKOFF_SECONDS if last is None or ran >= STEADY_SECONDS else min(MAX_BACKOFF_SECONDS, last * 2)
        self._delay[name] = delay
        return delay

    def _delay_after_failure(self, name: str) -> float:
        delay = min(MAX_BACKOFF_SECONDS, self._delay.get(name, BACKOFF_SECONDS) * 2)
        self._delay[name] = delay
        return delay

    def _report(self, name: str, kind: ServerEventKind, message: str) -> None:
        event = ServerEvent(name, kind, message)
        log.info(message)  # INFO: `checkout worker` prints each event, and a warning would say it twice
        try:
            self._listener(event)
        except Exception:  # a listener's bug must not stop the supervision
            log.exception("server event listener failed")
