"""A stack of its own for one scenario run: servers on free ports in a fresh directory, its workers, stopped after.

    async with embedded_target(scenario, settings, worker_command=[sys.executable, "-m", "tui.cli"]) as target:
        report = await ScenarioRun(scenario, target).run()

As the chaos soak does: a Temporal dev server and a nats-server (engine.runtime), and
`scenario.workers` `checkout worker` processes (each with its services) on them. When the
scenario partitions a link, worker-0 reaches NATS and Temporal through a TCP proxy
(engine.tcp_proxy) and the others directly, so that the orders still have a way through.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from engine.config import EmbeddedMode, Settings
from engine.connect import Connections, open_connections
from engine.disruptions import write_worker_config
from engine.errors import CheckoutError, ServerStartError
from engine.operations import Operations
from engine.processes import ChildProcess
from engine.runtime import EmbeddedServers, private_server_settings
from engine.scenarios.model import Scenario
from engine.scenarios.runner import ScenarioTarget
from engine.tcp_proxy import TcpProxy

READY_TIMEOUT_S = 90.0


@contextlib.asynccontextmanager
async def embedded_target(
    scenario: Scenario, settings: Settings, *, worker_command: Sequence[str]
) -> AsyncIterator[ScenarioTarget]:
    with tempfile.TemporaryDirectory(prefix="checkout-scenario-") as directory:
        stack = _Stack(scenario, _settings(scenario, settings, Path(directory) / "servers"), Path(directory))
        try:
            yield await stack.start(list(worker_command))
        finally:
            await stack.stop()


def _settings(scenario: Scenario, settings: Settings, data_dir: Path) -> Settings:
    private = private_server_settings(settings, data_dir)
    saga = private.saga
    if scenario.hold_s is not None:
        saga = saga.model_copy(update={"hold_seconds": scenario.hold_s})
    return private.model_copy(
        update={
            "temporal": private.temporal.model_copy(update={"task_queue": f"scenario-{uuid.uuid4().hex[:8]}"}),
            "embedded": private.embedded.model_copy(update={"mode": EmbeddedMode.ALWAYS}),
            "saga": saga,
            "catalogue": dict(scenario.catalogue) if scenario.catalogue is not None else private.catalogue,
        }
    )


class _Stack:
    def __init__(self, scenario: Scenario, settings: Settings, directory: Path) -> None:
        self.scenario = scenario
        self.settings = settings
        self.directory = directory
        self.servers = EmbeddedServers(settings)
        self.servers.log_dir = directory / "logs"
        self.proxy = TcpProxy()
        self.workers: list[ChildProcess] = []
        self.connections: Connections | None = None

    async def start(self, worker_command: list[str]) -> ScenarioTarget:
        await self.servers.start()
        # The config file says it all: variables that would override it are left out.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKOUT_", "TEMPORAL_HOST", "NATS_URL"))}
        proxied = any(step.kind == "partition" for step in self.scenario.server_steps())
        for index in range(self.scenario.workers):
            config = await write_worker_config(
                self.directory, index, self.settings, self.proxy if proxied and index == 0 else None
            )
            worker = ChildProcess(
                "scenario",
                f"worker-{index}",
                [*worker_command, "--config", str(config), "worker"],
                self.directory / "logs" / f"worker-{index}.log",
                env,
            )
            worker.start()
            self.workers.append(worker)
        self.connections = await open_connections(self.settings, name="checkout-scenario")
        ops = Operations(self.settings, self.connections.client, self.connections.nc)
        await self._until_up(ops)
        return ScenarioTarget(
            ops=ops,
            kind="embedded",
            faults_enabled=self.settings.faults_enabled,
            hold_s=self.settings.saga.hold_seconds,
            servers=self.servers,
            proxy=self.proxy if proxied else None,
        )

    async def _until_up(self, ops: Operations) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            for worker in self.workers:
                if (code := worker.exit_code()) is not None:
                    raise ServerStartError(f"{worker.role} exited with code {code}: {worker.last_log_line()}")
            try:
                health = await ops.health()
                if health.temporal and health.worker and health.services and all(health.services.values()):
                    return
            except CheckoutError:
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(f"the scenario's workers did not answer within {READY_TIMEOUT_S:g} s")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self.connections is not None:
            await self.connections.close()
        self.proxy.heal_all()
        for worker in self.workers:
            await worker.stop()
        await self.proxy.close()
        await self.servers.stop()
