"""More worker processes on the same task queue: the documented way past Python's GIL.

`checkout worker --processes N` and the dashboard start N-1 of these beside their own worker.
Each is a `checkout worker` of its own (worker and services) that only connects: it reads the
same configuration (file and environment) with `embedded.mode=never`, so it uses the servers
its parent started or found, `faults.enabled` as its parent decided it, and a metrics port
of its own beside its parent's. They stay in the
parent's process group (a terminal's Ctrl-C reaches them, and they die with it) and are stopped
when the parent stops.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from engine.processes import ChildProcess


class WorkerProcesses:
    def __init__(
        self,
        count: int,
        command: Sequence[str],
        log_dir: Path | None = None,
        options: Sequence[str] = (),
        *,
        faults_enabled: bool,
        niceness: int = 0,
        metrics_port: int = 0,
    ) -> None:
        """`command` starts the `checkout` CLI (the engine does not know where it lives); `options`
        go after `worker`; a positive `niceness` runs them at a lower CPU priority than ours;
        with a `metrics_port` (ours), worker-N serves its metrics on metrics_port + N - 1."""
        self._count, self._niceness = count, niceness
        self._metrics_port = metrics_port
        self._faults_enabled = faults_enabled
        self._command = [*command, "worker", *options]
        self._log_dir = log_dir or Path(tempfile.gettempdir())
        self.children: list[ChildProcess] = []

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self.children if child.process is not None]

    def start(self) -> None:
        env = {  # `--config` reached os.environ already
            **os.environ,
            "CHECKOUT_EMBEDDED__MODE": "never",
            "CHECKOUT_FAULTS__ENABLED": "true" if self._faults_enabled else "false",
        }
        for index in range(self._count):
            child = ChildProcess(
                "checkout",
                f"worker-{index + 2}",
                self._command,
                self._log_dir / f"worker-{index + 2}.log",
                {**env, "CHECKOUT_METRICS__PORT": str(self.metrics_port_of(index))},
                own_group=False,
                niceness=self._niceness,
            )
            child.start()
            self.children.append(child)

    def metrics_port_of(self, index: int) -> int:
        """The metrics port of helper `index` (worker-<index + 2>): the next ones after ours; 0: none."""
        port = self._metrics_port + index + 1 if self._metrics_port else 0
        return port if port <= 65535 else 0

    async def stop(self) -> None:
        await asyncio.gather(*(child.stop() for child in self.children))
        self.children.clear()
