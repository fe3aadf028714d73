"""Stack: embedded servers, connections, services and worker, started and stopped as one.

`checkout worker`, the dashboard and the end-to-end tests all run the same Stack; the
dashboard in attach mode runs one without worker and services. `helpers` are more worker
processes (`WorkerProcesses`) on the same servers: started by `start_helpers()` once the stack has
started (the dashboard asks after its first full screen, so that they do not slow it down), and
stopped first. With `supervise` (the dashboard, `checkout worker`), the embedded servers the stack
started are restarted when they die (`engine.supervision`); each step reaches the listeners of
`on_server_event`. Tests and soaks that kill servers on purpose build their stacks without it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable

from nats.aio.client import Client as NATS
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from engine import event_sink
from engine.config import Settings
from engine.connect import open_connections
from engine.events import EventPublisher, ensure_stream
from engine.nats_client import replica_errors
from engine.operations import Operations
from engine.pauses import PauseCache, open_pauses_bucket
from engine.runtime import EmbeddedServers
from engine.services import RunningServices, start_services
from engine.supervision import ServerEvent, ServerListener, Supervisor
from engine.temporal_client import metrics_runtime
from engine.worker import WorkerLimits, build_worker
from engine.worker_processes import WorkerProcesses

log = logging.getLogger(__name__)


class Stack:
    def __init__(
        self,
        settings: Settings,
        *,
        worker: bool = True,
        services: bool = True,
        worker_limits: WorkerLimits | None = None,
        helpers: WorkerProcesses | None = None,
        supervise: bool = False,
    ) -> None:
        self.settings = settings
        self._run_worker = worker
        self._run_services = services
        self._worker_limits = worker_limits
        self.helpers = helpers
        self.servers = EmbeddedServers(settings)
        self._server_listeners: list[ServerListener] = []
        self.supervisor = (
            Supervisor(self.servers, self._server_event, settings.embedded.data_dir) if supervise else None
        )
        self.client: Client | None = None
        self.nc: NATS | None = None
        self._services: RunningServices | None = None
        self._worker: Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._pauses: PauseCache | None = None
        self._unregister_events: Callable[[], None] | None = None
        self._facade: Operations | None = None
        self._runtime: Runtime | None = None
        self._started = False

    @property
    def facade(self) -> Operations:
        if self._facade is None:
            raise RuntimeError("Stack.start() has not completed")
        return self._facade

    @property
    def runs_worker(self) -> bool:
        """Whether this stack runs a worker of its own (an attached one does not)."""
        return self._run_worker

    @property
    def worker_running(self) -> bool:
        return self._worker_task is not None and not self._worker_task.done()

    def on_server_event(self, listener: ServerListener) -> None:
        """Call `listener` (in the event loop) at each step of a supervised server: exited, restarted."""
        self._server_listeners.append(listener)

    def _server_event(self, event: ServerEvent) -> None:
        for listener in list(self._server_listeners):
            listener(event)

    async def __aenter__(self) -> Stack:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start what the settings ask for; on any failure stop what already started."""
        if self._started:
            return
        self._started = True
        try:
            meter = self._serve_metrics()  # first: a taken port stops the start before any server runs
            await self.servers.start()
            if self.supervisor is not None:
                self.supervisor.start()
            connections = await open_connections(self.settings, name="checkout", runtime=self._runtime)
            self.client, self.nc = connections.client, connections.nc
            js = self.nc.jetstream()
            with replica_errors(self.settings.nats.replicas):
                if self._run_services or self._run_worker:  # attached, it only reads (a viewer may do no more)
                    await ensure_stream(js, self.settings.nats.events_max_age_hours, self.settings.nats.replicas)
                if self._run_services:
                    self._services = await start_services(self.nc, self.settings, meter=meter)
            if self._run_worker:
                self._unregister_events = event_sink.register(
                    self.settings.temporal.task_queue, EventPublisher(self.nc).publish, asyncio.get_running_loop()
                )
                with replica_errors(self.settings.nats.replicas):
                    self._pauses = PauseCache(await open_pauses_bucket(js, self.settings.nats.replicas))
                await self._pauses.start()
                self._worker = build_worker(
                    self.client, self.nc, self.settings, self._pauses, limits=self._worker_limits, meter=meter
                )
                self._worker_task = asyncio.create_task(self._worker.run(), name="temporal-worker")
            self._facade = Operations(
                self.settings, self.client, self.nc, local_worker_running=lambda: self.worker_running
            )
        except BaseException:
            await self.stop()
            raise

    def _serve_metrics(self) -> MetricMeter | None:
        """With `metrics.port`, a runtime whose endpoint serves this process's metrics, and its
        meter; an attached stack (no worker, no services) has none of its own to serve."""
        if not self.settings.metrics.port or not (self._run_worker or self._run_services):
            return None
        self._runtime = metrics_runtime(self.settings.metrics)
        log.info("metrics on http://%s/metrics", self.settings.metrics.bind_address)
        return self._runtime.metric_meter

    def start_helpers(self) -> None:
        """Start the worker processes, if there are any and they have not started yet."""
        if self._started and self.helpers is not None and not self.helpers.children:
            self.helpers.start()

    async def stop(self) -> None:
        """Stop in reverse order. Safe to call twice, or after a failed start."""
        if self.supervisor is not None:
            await self.supervisor.stop()  # first: the servers stopping below are no crash
        if self.helpers is not None:
            await self.helpers.stop()
        if self._worker is not None and self._worker_task is not None:
            if not self._worker_task.done():
                await self._worker.shutdown()
            await asyncio.gather(self._worker_task, return_exceptions=True)
            self._worker = self._worker_task = None
        if self._pauses is not None:
            await self._pauses.stop()
            self._pauses = None
        if self._unregister_events is not None:
            self._unregister_events()
            self._unregister_events = None
        if self._services is not None:
            await self._services.stop()
            self._services = None
        if self.nc is not None:
            try:
                await self.nc.close()
            except Exception as error:  # closing a half-dead connection must not stop the shutdown
                log.debug("closing NATS: %s", error)
            self.nc = None
        self.client = None
        await self.servers.stop()
        self._facade = None
        self._started = False
        if self._runtime is not None:
            # The endpoint closes when the runtime is freed, and the SDK's worker and client hold it in
            # reference cycles: collect them now, so that a stack started again here finds the port free.
            self._runtime = None
            gc.collect()
