"""The chaos soak: orders under faults, cancels and SIGKILLs of every process, then the audit.

    report = await run_soak(SoakOptions(orders=300), worker_command=[sys.executable, "-m", "tui.cli"])

It starts a Temporal dev server and a nats-server on free ports in a temporary directory,
and `workers` `checkout worker` processes on them (each with its services). Orders (one or
two SKUs each, one SKU scarce) arrive at `rate` per second with faults on every endpoint;
about one in ten is cancelled, some at once and some during the hold. Meanwhile each
worker is SIGKILLed and restarted, nats-server is SIGKILLed and restarted 3 s later, the
Temporal server 4 s later. Then the faults are cleared, every order must end, and the
audit must find nothing. With `pauses`, workers and both servers are also SIGSTOPped past
every timeout and continued (engine/disruptions.py); with `partitions`, worker-0 reaches
NATS and Temporal through a TCP proxy (engine/tcp_proxy.py) whose links are dropped,
blackholed, cut one way and delayed while worker-1 talks to them directly. With
`power_cuts`, the servers keep their data on a `PowerCutDisk` (a filesystem that can lose
what was not fsynced) and, at that many seeded random moments, the power goes: every
process of the stack (both servers, every worker) is SIGKILLed, the disk loses its
unsynced writes, and everything starts again from what is left; `unsafe_settings` runs the
servers on their fast, non-durable settings, where such a soak must find losses. Each kind
runs its own plan; they overlap, except that one process is never disrupted twice at once
(a power cut waits for every other disruption to end). The drifts are also computed
without the audit, from Temporal's outcomes alone: the ledger's net must be the total of
the completed orders, and each SKU's stock its seeded level minus what the completed
orders took. With `lost_reply_rate`, that share of the services' replies is lost on every
endpoint (the effect applied and stored, nothing sent): the callers time out and retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import nats.errors

from engine.config import CatalogueItem, EmbeddedMode, Settings
from engine.connect import Connections, open_connections
from engine.disruptions import (
    LONG_PARTITION_PLAN,
    LONG_PAUSE_PLAN,
    PARTITION_PLAN,
    PAUSE_PLAN,
    EmbeddedServer,
    PlannedPartition,
    PlannedPause,
    partition_for,
    pause_for,
    write_worker_config,
)
from engine.errors import CheckoutError, InvalidInput
from engine.models import (
    AuditReport,
    FaultSettings,
    OrderInput,
    OrderStatus,
    OrderSummary,
    ServiceName,
    ServicesSnapshot,
)
from engine.operations import Operations
from engine.processes import ChildProcess
from engine.runtime import EmbeddedServers, private_server_settings
from engine.services import lost_replies_by_instance
from engine.tcp_proxy import TcpProxy

COMMON_SKU, SCARCE_SKU = "soak-common", "soak-scarce"
CATALOGUE = {
    COMMON_SKU: CatalogueItem(name="Soak common", price_cents=1500, stock=1_000_000),
    SCARCE_SKU: CatalogueItem(name="Soak scarce", price_cents=2550, stock=60),
}
FAULTS = {
    ServiceName.INVENTORY: FaultSettings(error_rate=0.2, decline_rate=0.05, latency_ms=20, jitter_ms=60),
    ServiceName.PAYMENT: FaultSettings(error_rate=0.3, decline_rate=0.1, latency_ms=20, jitter_ms=60),
    ServiceName.SHIPPING: FaultSettings(error_rate=0.2, decline_rate=0.1, latency_ms=20, jitter_ms=60),
    ServiceName.REFUND: FaultSettings(error_rate=0.3, latency_ms=20, jitter_ms=60),
    ServiceName.RESTOCK: FaultSettings(error_rate=0.2, latency_ms=20, jitter_ms=60),
}


def soak_faults(options: SoakOptions) -> dict[ServiceName, FaultSettings]:
    """The faults of every endpoint during the soak: FAULTS, with the lost replies asked for."""
    rate = options.lost_reply_rate
    return {service: faults.model_copy(update={"lost_reply_rate": rate}) for service, faults in FAULTS.items()}


@dataclass(frozen=True)
class SoakOptions:
    orders: int = 300
    rate: float = 8.0  # orders per second
    workers: int = 2
    cancel_share: float = 0.1
    hold_seconds: float = 2.0
    kills: bool = True
    pauses: bool = False  # SIGSTOP and SIGCONT of workers and servers
    partitions: bool = False  # worker-0's links to NATS and Temporal through a proxy that cuts them
    long_disruptions: bool = False  # pauses and partitions past the clients' dead-connection detection
    fast_retries: bool = False  # shorter backoffs, for the short soak in the test suite
    drain_timeout_seconds: float = 420.0
    seed: int | None = None
    power_cuts: int = 0  # at seeded random moments while the orders arrive; needs a PowerCutDisk
    unsafe_settings: bool = False  # embedded.durable false: the servers acknowledge writes before fsync
    lost_reply_rate: float = 0.0  # on every endpoint: the effect applied, its reply never sent


class PowerCutDisk(Protocol):
    """Where the servers keep their data, and what a power cut does to it.

    `lose_unsynced_writes` is called once every process using `data_dir` has been SIGKILLed:
    it throws away whatever was written there and not fsynced, as a power cut does, and
    returns when `data_dir` can be used again (after the reboot)."""

    @property
    def data_dir(self) -> Path: ...

    async def lose_unsynced_writes(self) -> None: ...


@dataclass
class SoakReport:
    orders: int = 0
    ended: int = 0
    stuck: list[str] = field(default_factory=list)
    by_status: dict[str, int] = field(default_factory=dict)
    cancels_accepted: int = 0
    money_drift_cents: int = 0
    stock_drift_units: int = 0
    double_effects: int = 0
    drain_seconds: float = 0.0  # from the last fault (restart or faults cleared) until every order ended
    wall_seconds: float = 0.0
    chaos: list[str] = field(default_factory=list)  # every disruption, by the time it began
    power_cuts: int = 0
    failed_calls: list[str] = field(default_factory=list)  # submits or cancels that kept failing
    links: dict[str, str] = field(default_factory=dict)  # what went through each proxied link
    restarts: list[str] = field(default_factory=list)  # workers that exited by themselves, and were restarted
    workers_running: int = 0  # after the audit: none may stay dead
    audit: AuditReport | None = None
    pids: list[int] = field(default_factory=list)  # every process it started, to check none is left
    lost_replies: int = 0  # replies the services dropped, sampled every second from their counters

    @property
    def clean(self) -> bool:
        return (
            not self.stuck
            and not self.failed_calls
            and self.money_drift_cents == 0
            and self.stock_drift_units == 0
            and self.double_effects == 0
            and self.audit is not None
            and self.audit.clean
        )


Observer = Callable[[str], None]
T = TypeVar("T")
Plan = list[tuple[float, str, str, Callable[[], Awaitable[None]]]]  # (at, whom it disrupts, label, action)


async def run_soak(
    options: SoakOptions,
    *,
    worker_command: Sequence[str],
    observer: Observer = lambda _text: None,
    disk: PowerCutDisk | None = None,
) -> SoakReport:
    if options.power_cuts and disk is None:
        raise InvalidInput("a power-cut soak needs a disk that can lose unsynced writes")
    with tempfile.TemporaryDirectory(prefix="checkout-soak-") as directory:
        soak = _Soak(options, Path(directory), list(worker_command), observer, disk)
        try:
            return await soak.run()
        finally:
            await soak.stop()


class _Soak:
    def __init__(
        self,
        options: SoakOptions,
        directory: Path,
        worker_command: list[str],
        observer: Observer,
        disk: PowerCutDisk | None,
    ) -> None:
        self.options = options
        self.directory = directory
        self.observe = observer
        self.random = random.Random(options.seed)
        self.disk = disk
        self.settings = _soak_settings(options, disk.data_dir if disk is not None else directory / "servers")
        self.servers = EmbeddedServers(self.settings)
        self.servers.log_dir = directory / "logs"  # logs off the disk that loses writes
        self.workers: list[ChildProcess] = []
        self.worker_command = worker_command
        self.connections: Connections | None = None
        self.ops: Operations | None = None
        self.orders: dict[str, OrderInput] = {}
        self.report = SoakReport()
        self.began = time.monotonic()
        self.last_fault = time.monotonic()
        self.proxy = TcpProxy()
        self.busy: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)  # one disruption at a time per process
        self.supervisor: asyncio.Task[None] | None = None
        self.lost_by_instance: dict[str, int] = {}  # lost replies each services process counted

    async def run(self) -> SoakReport:
        await self.servers.start()
        self.report.pids += self.servers.pids.values()
        # The config file says it all: variables that would override it are left out.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKOUT_", "TEMPORAL_HOST", "NATS_URL"))}
        for index in range(self.options.workers):
            config = await write_worker_config(
                self.directory, index, self.settings, self.proxy if self.options.partitions and index == 0 else None
            )
            worker = ChildProcess(
                "soak",
                f"worker-{index}",
                [*self.worker_command, "--config", str(config), "worker"],
                self.directory / "logs" / f"worker-{index}.log",
                env,
            )
            self._start(worker)
            self.workers.append(worker)
        self.connections = await open_connections(self.settings, name="checkout-soak")
        self.ops = Operations(self.settings, self.connections.client, self.connections.nc)
        await self._until(self._everything_up, "the workers and services are up", 90)
        self.supervisor = asyncio.create_task(self._supervise())
        seeded = (await self.ops.services_snapshot()).stock
        for service, faults in soak_faults(self.options).items():
            await self.ops.set_faults(service, faults)
        lost = f", {self.options.lost_reply_rate:g} of replies lost" if self.options.lost_reply_rate else ""
        self.observe(
            f"submitting {self.options.orders} orders at {self.options.rate:g}/s with faults on every endpoint{lost}"
        )

        window = self.options.orders / self.options.rate
        disrupts = self.options.kills or self.options.pauses or self.options.partitions or self.options.power_cuts
        chaos = asyncio.create_task(self._chaos(window)) if disrupts else None
        counting = asyncio.create_task(self._sample_lost_replies())
        await self._submit_all()
        if chaos is not None:
            await chaos
        await self._retry(self.ops.clear_faults, "clearing the faults")
        counting.cancel()
        await asyncio.gather(counting, return_exceptions=True)
        await self._count_lost_replies()
        self.last_fault = max(self.last_fault, time.monotonic())
        self.observe("faults cleared; waiting for every order to end")
        summaries = await self._drain()
        self.report.audit = await self._retry(self.ops.audit, "the audit")
        self._drifts(summaries, seeded, (await self.ops.services_snapshot()))
        # One may be between an exit and its restart: the supervisor brings it back within seconds.
        await self._until(self._workers_running, "every worker runs again", 60)
        self.report.workers_running = sum(worker.exit_code() is None for worker in self.workers)
        self.report.wall_seconds = time.monotonic() - self.began
        return self.report

    # --- load ----------------------------------------------------------------------------

    async def _submit_all(self) -> None:
        tasks = []
        start = time.monotonic()
        for index in range(self.options.orders):
            await asyncio.sleep(max(0.0, start + index / self.options.rate - time.monotonic()))
            order = self._new_order()
            self.orders[order.order_id] = order
            tasks.append(asyncio.create_task(self._one(order)))
        await asyncio.gather(*tasks)

    def _new_order(self) -> OrderInput:
        skus = [COMMON_SKU] if self.random.random() < 0.5 else [SCARCE_SKU]
        if self.random.random() < 0.4:
            skus = [COMMON_SKU, SCARCE_SKU]
        items = [
            {"sku": sku, "quantity": self.random.randint(1, 3), "unit_price_cents": CATALOGUE[sku].price_cents}
            for sku in skus
        ]
        return OrderInput(order_id=f"soak-{uuid.uuid4().hex[:10]}", customer_id="soak", items=items)

    async def _one(self, order: OrderInput) -> None:
        try:
            await self._submit_and_maybe_cancel(order)
        except CheckoutError as error:  # e.g. an order the servers forgot after a power cut
            self.report.failed_calls.append(error.message)

    async def _submit_and_maybe_cancel(self, order: OrderInput) -> None:
        assert self.ops is not None
        ops = self.ops
        await self._retry(lambda: _submit_once(ops, order), f"submitting {order.order_id}")
        if self.random.random() >= self.options.cancel_share:
            return
        early = self.random.random() < 0.5
        await asyncio.sleep(self.random.uniform(0, 0.3) if early else self.random.uniform(0.8, 2.0))
        answer = await self._retry(lambda: ops.cancel(order.order_id), f"cancelling {order.order_id}")
        self.report.cancels_accepted += answer.accepted

    # --- chaos ---------------------------------------------------------------------------

    async def _chaos(self, window: float) -> None:
        plans = [
            plan
            for wanted, plan in (
                (self.options.kills, self._kill_plan),
                (self.options.pauses, self._pause_plan),
                (self.options.partitions, self._partition_plan),
                (self.options.power_cuts, self._power_cut_plan),
            )
            if wanted
        ]
        try:
            await asyncio.gather(*(self._run_plan(plan(), window) for plan in plans))
        finally:
            self.proxy.heal_all()
        self.report.chaos.sort()
        self.report.links = {name: link.summary for name, link in self.proxy.links.items()}

    async def _run_plan(self, plan: Plan, window: float) -> None:
        """Each disruption at its share of the window, or once the one before it is over."""
        start = time.monotonic()
        for at, whom, what, disrupt in plan:
            await asyncio.sleep(max(0.0, start + at * window - time.monotonic()))
            async with self.busy[whom]:
                began = time.monotonic()
                self.observe(what)
                await disrupt()
            self.last_fault = max(self.last_fault, time.monotonic())
            self.report.chaos.append(f"{began - self.began:6.1f}s  {what}")

    def _kill_plan(self) -> Plan:
        other = 1 % len(self.workers)
        return [
            (0.15, "worker-0", "worker-0 SIGKILLed, restarted 1 s later", lambda: self._kill_worker(0, 1.0)),
            (0.30, "nats", "nats-server SIGKILLed, restarted 3 s later", lambda: self._kill_server("nats", 3.0)),
            (
                0.50,
                f"worker-{other}",
                f"worker-{other} SIGKILLed, restarted 1 s later",
                lambda: self._kill_worker(other, 1.0),
            ),
            (
                0.65,
                "temporal",
                "temporal server SIGKILLed, restarted 4 s later",
                lambda: self._kill_server("temporal", 4.0),
            ),
            (0.85, "worker-0", "worker-0 SIGKILLed, restarted 1 s later", lambda: self._kill_worker(0, 1.0)),
        ]

    def _pause_plan(self) -> Plan:
        def planned(pause: PlannedPause) -> tuple[float, str, str, Callable[[], Awaitable[None]]]:
            if isinstance(pause.target, int):
                worker = self.workers[pause.target % len(self.workers)]
                return pause.at, worker.role, pause.label, lambda: pause_for(worker, pause.seconds)
            server = EmbeddedServer(self.servers, pause.target)
            return pause.at, pause.target, pause.label, lambda: pause_for(server, pause.seconds)

        return [planned(pause) for pause in (LONG_PAUSE_PLAN if self.options.long_disruptions else PAUSE_PLAN)]

    def _partition_plan(self) -> Plan:
        def action(cut: PlannedPartition) -> Callable[[], Awaitable[None]]:
            link = self.proxy.link(cut.server)
            return lambda: partition_for(link, cut.mode, cut.seconds, delay_seconds=cut.delay_seconds)

        plan = LONG_PARTITION_PLAN if self.options.long_disruptions else PARTITION_PLAN
        return [(cut.at, f"link {cut.server}", cut.label, action(cut)) for cut in plan]

    def _power_cut_plan(self) -> Plan:
        moments = random.Random(None if self.options.seed is None else self.options.seed + 1)
        at = sorted(moments.uniform(0.05, 0.95) for _ in range(self.options.power_cuts))
        what = "power cut: every process SIGKILLed, the unsynced writes lost, everything started again"
        return [(moment, "power", what, self._power_cut) for moment in at]

    async def _power_cut(self) -> None:
        """SIGKILL everything, lose the unsynced writes, start everything again from what is left.
        It waits until no other disruption holds a process, and holds them all while it runs."""
        async with contextlib.AsyncExitStack() as held:
            for whom in sorted({worker.role for worker in self.workers} | {"nats", "temporal"}):
                await held.enter_async_context(self.busy[whom])
            await self._lose_power()

    async def _lose_power(self) -> None:
        assert self.disk is not None
        for worker in self.workers:
            worker.kill()
        servers = self.servers.started
        for name in servers:
            self.servers.kill(name)
        await self.disk.lose_unsynced_writes()
        await asyncio.gather(*(self.servers.restart(name) for name in servers))
        self.report.pids += [self.servers.pids[name] for name in servers]
        for worker in self.workers:
            self._start(worker)
        self.report.power_cuts += 1

    async def _kill_worker(self, index: int, down_seconds: float) -> None:
        worker = self.workers[index]
        worker.kill()
        await asyncio.sleep(down_seconds)
        self._start(worker)

    async def _kill_server(self, name: str, down_seconds: float) -> None:
        self.servers.kill(name)
        await asyncio.sleep(down_seconds)
        await self.servers.restart(name)
        self.report.pids.append(self.servers.pids[name])

    # --- the end -------------------------------------------------------------------------

    async def _drain(self) -> dict[str, OrderSummary]:
        assert self.ops is not None
        ops = self.ops
        deadline = time.monotonic() + self.options.drain_timeout_seconds
        while True:
            listed = await self._retry(lambda: ops.list_orders(limit=None), "listing orders")
            ours = {s.order_id: s for s in listed if s.order_id in self.orders}
            ended = [s for s in ours.values() if s.status.is_terminal]
            if len(ended) == len(self.orders) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        self.report.drain_seconds = time.monotonic() - self.last_fault
        self.report.orders = len(self.orders)
        self.report.ended = len(ended)
        self.report.stuck = sorted(set(self.orders) - {s.order_id for s in ended})
        self.report.by_status = dict(Counter(s.status.value for s in ours.values()))
        return ours

    def _drifts(self, summaries: dict[str, OrderSummary], seeded: dict[str, int], after: ServicesSnapshot) -> None:
        completed = [self.orders[s.order_id] for s in summaries.values() if s.status is OrderStatus.COMPLETED]
        net = after.ledger.charged_cents - after.ledger.refunded_cents
        self.report.money_drift_cents = net - sum(order.total_cents for order in completed)
        taken = Counter[str]()
        for order in completed:
            for item in order.items:
                taken[item.sku] += item.quantity
        stock = after.stock
        self.report.stock_drift_units = sum(abs(stock[sku] - (seeded[sku] - taken[sku])) for sku in CATALOGUE)
        assert self.report.audit is not None
        self.report.double_effects = sum(1 for d in self.report.audit.discrepancies if d.kind == "double")

    async def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.cancel()
            await asyncio.gather(self.supervisor, return_exceptions=True)
        if self.connections is not None:
            await self.connections.close()
        self.proxy.heal_all()
        for worker in self.workers:
            await worker.stop()
        await self.proxy.close()
        await self.servers.stop()

    # --- helpers ---------------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Restart a worker that exited by itself, as a service manager would. One (re)started
        while a server is paused or down cannot connect, and gives up with one line."""
        while True:
            await asyncio.sleep(1.0)
            for worker in (w for w in self.workers if w.exit_code() is not None):
                async with self.busy[worker.role]:  # not while the plans kill or pause it
                    code = worker.exit_code()
                    if code is None:
                        continue
                    why = worker.last_log_line()
                    await worker.stop()
                    self._start(worker)
                self.report.restarts.append(
                    f"{time.monotonic() - self.began:6.1f}s  {worker.role} had exited (code {code}: {why}); restarted"
                )
                self.observe(f"{worker.role} had exited by itself (code {code}); restarted")

    def _start(self, worker: ChildProcess) -> None:
        worker.start()
        self.report.pids.append(worker.pid)

    async def _sample_lost_replies(self) -> None:
        """Every second while faults are in force: a killed worker takes its counters with it."""
        while True:
            await self._count_lost_replies()
            await asyncio.sleep(1.0)

    async def _count_lost_replies(self) -> None:
        assert self.connections is not None
        try:
            counts = await lost_replies_by_instance(self.connections.nc)
        except (CheckoutError, nats.errors.Error):  # NATS away for a moment: the next sample counts them
            return
        for instance, count in counts.items():
            self.lost_by_instance[instance] = max(count, self.lost_by_instance.get(instance, 0))
        self.report.lost_replies = sum(self.lost_by_instance.values())

    async def _workers_running(self) -> bool:
        return all(worker.exit_code() is None for worker in self.workers)

    async def _everything_up(self) -> bool:
        assert self.ops is not None
        health = await self.ops.health()
        return health.temporal and health.worker and all(health.services.values()) and bool(health.services)

    async def _until(self, ready: Callable[[], Awaitable[bool]], what: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not await ready():
            if time.monotonic() > deadline:
                raise CheckoutError(f"soak: timed out waiting until {what}")
            await asyncio.sleep(0.2)

    async def _retry(self, call: Callable[[], Awaitable[T]], what: str, seconds: float = 120.0) -> T:
        """Servers come and go during the soak: an operation is retried until they are back."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                return await call()
            except CheckoutError:
                if time.monotonic() > deadline:
                    raise CheckoutError(f"soak: {what} kept failing for {seconds:g} s") from None
                await asyncio.sleep(0.5)


async def _submit_once(ops: Operations, order: OrderInput) -> None:
    try:
        await ops.submit(order)
    except InvalidInput as error:  # started by an earlier attempt whose answer was lost
        if "already exists" not in error.message:
            raise


def _soak_settings(options: SoakOptions, data_dir: Path) -> Settings:
    settings = private_server_settings(Settings(), data_dir)
    retry = settings.retry
    if options.fast_retries:
        retry = retry.model_copy(update={"maximum_interval_seconds": 1.0, "compensation_maximum_interval_seconds": 2.0})
    return settings.model_copy(
        update={
            "temporal": settings.temporal.model_copy(update={"task_queue": f"soak-{uuid.uuid4().hex[:8]}"}),
            "embedded": settings.embedded.model_copy(
                update={"mode": EmbeddedMode.ALWAYS, "durable": not options.unsafe_settings}
            ),
            "saga": settings.saga.model_copy(update={"hold_seconds": options.hold_seconds}),
            "retry": retry,
            "catalogue": dict(CATALOGUE),
        }
    )
