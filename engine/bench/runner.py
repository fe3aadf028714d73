"""Drive `checkout bench`: servers, the programs' processes, warm-up, alternating rounds, figures.

    report = await run_bench(settings, BenchOptions(orders=40), checkout_command=[...], observer=...)

Without `attach`, a Temporal dev server and a nats-server start on free ports in a
temporary directory; with it, the configured servers are used. Either way every process
the bench starts is stopped when it ends, fails or is cancelled (Ctrl-C).

Every program's processes start once, before the first round, and stay up (idle workers
only long-poll); each round measures one program while the others wait, and the rounds
alternate (checkout, minimal, naive, empty, checkout, ...), so a machine getting busier
or quieter during the run affects every program alike.
"""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import nats.errors
import temporalio
from nats.aio.client import Client as NATS
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from engine.bench.programs import PROGRAMS, Program, build_programs
from engine.bench.stats import (
    CHECKOUT,
    DRIVER,
    NATS_SERVER,
    TEMPORAL_SERVER,
    BenchReport,
    HistoryShape,
    ProgramSummary,
    RoundResult,
)
from engine.config import Settings
from engine.errors import CheckoutError, InvalidInput
from engine.nats_client import connect_nats
from engine.processes import ChildProcess, group_cpu_seconds, process_cpu_seconds
from engine.runtime import EmbeddedServers, private_server_settings
from engine.services import FaultsClient
from engine.temporal_client import connect_temporal

READY_TIMEOUT_SECONDS = 90.0
ORDER_TIMEOUT_SECONDS = 60.0
WATCH_SECONDS = 0.25

T = TypeVar("T")


class BenchFailed(CheckoutError):
    title = "Benchmark failed"
    exit_code = 1


@dataclass(frozen=True)
class BenchOptions:
    orders: int = 200
    """Orders per round."""
    concurrency: int = 20
    """Orders in flight at once (closed loop)."""
    rate: float | None = None
    """Orders started per second (open loop) instead of a fixed concurrency."""
    rounds: int = 3
    warmup: int = 20
    """Orders per program before the first round, not measured."""
    programs: Sequence[str] = PROGRAMS
    latency_at_half: bool = False
    """After the rounds, checkout open-loop at half its median sagas/s, for its latency there."""
    attach: bool = False
    """Use the configured servers instead of starting private ones."""
    worker_processes: int = 1
    """`checkout worker --processes`: the checkout program's worker processes."""
    services_apart: bool = False
    """The checkout program's services in a process of their own (`checkout worker --only`)."""

    def validate(self) -> None:
        """Raise InvalidInput naming the first bad option."""
        if self.orders < 1:
            raise InvalidInput("--orders must be at least 1")
        if self.concurrency < 1:
            raise InvalidInput("--concurrency must be at least 1")
        if self.rate is not None and not self.rate > 0:
            raise InvalidInput("--rate must be more than 0")
        if self.rounds < 1:
            raise InvalidInput("--rounds must be at least 1")
        if not 1 <= self.worker_processes <= 16:
            raise InvalidInput("--worker-processes must be between 1 and 16")
        if self.warmup < 0:
            raise InvalidInput("--warmup must be 0 or more")
        unknown = [name for name in self.programs if name not in PROGRAMS]
        if unknown or not self.programs:
            raise InvalidInput(f"--programs: unknown {', '.join(unknown) or '(none given)'}: use {','.join(PROGRAMS)}")
        if len(set(self.programs)) != len(self.programs):
            raise InvalidInput("--programs: each program once")
        if self.latency_at_half and self.rate is not None:
            raise InvalidInput("--latency-at-half finds the maximum rate itself: leave out --rate")
        if self.latency_at_half and CHECKOUT not in self.programs:
            raise InvalidInput("--latency-at-half measures checkout: include it in --programs")


class BenchObserver(Protocol):
    """What the bench tells a user interface while it runs (the engine never draws)."""

    def phase(self, text: str) -> None: ...

    def round_started(self, label: str, orders: int) -> None: ...

    def order_finished(self, completed: bool) -> None: ...

    def round_finished(self, result: RoundResult | None) -> None:
        """`result` is None after a warm-up."""
        ...


class SilentObserver:
    def phase(self, text: str) -> None:
        pass

    def round_started(self, label: str, orders: int) -> None:
        pass

    def order_finished(self, completed: bool) -> None:
        pass

    def round_finished(self, result: RoundResult | None) -> None:
        pass


@dataclass
class _Run:
    """One bench run's moving parts, so `run_bench` reads as its steps."""

    options: BenchOptions
    settings: Settings
    observer: BenchObserver
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    servers: EmbeddedServers | None = None
    client: Client | None = None
    nc: NATS | None = None
    programs: list[Program] = field(default_factory=list)
    children: list[ChildProcess] = field(default_factory=list)
    last_completed: dict[str, str] = field(default_factory=dict)
    """A completed order id per program, whose history is read at the end."""


async def run_bench(
    settings: Settings,
    options: BenchOptions,
    checkout_command: Sequence[str],
    observer: BenchObserver | None = None,
) -> BenchReport:
    """Run the bench and return its report. `checkout_command` starts the `checkout` CLI (the
    product's own worker command), e.g. `[sys.executable, "-m", "tui.cli"]`."""
    options.validate()
    with tempfile.TemporaryDirectory(prefix="checkout-bench-") as tmp:
        run_dir = Path(tmp)
        if not options.attach:
            settings = private_server_settings(settings, run_dir)
        run = _Run(options, settings, observer or SilentObserver())
        try:
            return await _run(run, run_dir, checkout_command)
        finally:
            run.observer.phase("stopping")
            await _stop(run)


async def _run(run: _Run, run_dir: Path, checkout_command: Sequence[str]) -> BenchReport:
    options, settings, observer = run.options, run.settings, run.observer
    load_before = os.getloadavg()
    if not options.attach:
        observer.phase("starting Temporal and NATS")
        run.servers = EmbeddedServers(settings)
        await run.servers.start()
    run.client = await connect_temporal(settings.temporal)
    run.nc = await connect_nats(settings.nats, name="checkout-bench")

    observer.phase("starting the programs' processes")
    run.programs = build_programs(
        options.programs,
        settings,
        run.client,
        run.nc,
        run.run_id,
        run_dir,
        checkout_command,
        options.worker_processes,
        options.services_apart,
    )
    for program in run.programs:
        for number, spec in enumerate(program.processes):
            child = ChildProcess(
                program.name,
                spec.role,
                spec.argv,
                run_dir / "logs" / f"{program.name}-{number}.log",
                _child_env(spec.env),
            )
            run.children.append(child)
            child.start()
    await _while_alive(run.children, asyncio.gather(*(_ready(run, program) for program in run.programs)))
    if CHECKOUT in options.programs:
        await _refuse_injected_faults(run.nc, settings)

    for program in run.programs:
        if options.warmup:
            await _while_alive(run.children, _warm_up(run, program))

    rounds: dict[str, list[RoundResult]] = {program.name: [] for program in run.programs}
    for number in range(1, options.rounds + 1):
        for program in run.programs:
            label = f"round {number}/{options.rounds} {program.name}"
            result = await _while_alive(
                run.children, _measure(run, program, number, label, options.concurrency, options.rate)
            )
            rounds[program.name].append(result)

    summaries = {}
    for program in run.programs:
        history = await _history_shape(run, program)
        summaries[program.name] = ProgramSummary(program.name, rounds[program.name], history)

    half_rate = None
    if options.latency_at_half:
        maximum = summaries[CHECKOUT].sagas_per_second
        if maximum <= 0:
            raise BenchFailed("checkout completed no saga: no maximum rate to halve")
        checkout = next(program for program in run.programs if program.name == CHECKOUT)
        label = f"checkout at half its maximum rate ({maximum / 2:.1f}/s)"
        result = await _while_alive(run.children, _measure(run, checkout, 1, label, None, maximum / 2, tag="half"))
        half_rate = ProgramSummary(CHECKOUT, [result])

    setup = _setup(run, load_before)
    return BenchReport(setup=setup, programs=summaries, half_rate=half_rate)


def _setup(run: _Run, load_before: tuple[float, float, float]) -> dict[str, Any]:
    options, settings = run.options, run.settings
    return {
        "orders": options.orders,
        "concurrency": None if options.rate else options.concurrency,
        "rate": options.rate,
        "rounds": options.rounds,
        "warmup": options.warmup,
        "programs": list(options.programs),
        "processes": {
            program.name: [
                {"role": child.role, "pid": child.pid} for child in run.children if child.program == program.name
            ]
            for program in run.programs
        },
        "servers": {
            "private": not options.attach,
            "temporal": settings.temporal.host,
            "nats": settings.nats.url,
            "pids": run.servers.pids if run.servers is not None else {},
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": [round(value, 2) for value in load_before],
            "load_average_after": [round(value, 2) for value in os.getloadavg()],
        },
        "temporalio": temporalio.__version__,
    }


def _child_env(env: dict[str, str] | None) -> dict[str, str]:
    """Every program runs as Python does by default, with its bytecode cache: without .pyc files
    the sandbox compiles a sandboxed workflow's modules from source for every run."""
    child = dict(os.environ if env is None else env)
    child.pop("PYTHONDONTWRITEBYTECODE", None)
    return child


# --- processes --------------------------------------------------------------------------------


async def _while_alive(children: Sequence[ChildProcess], work: Awaitable[T]) -> T:
    """Await `work`, failing at once if one of the bench's processes exits meanwhile."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=WATCH_SECONDS)
            if done:
                return task.result()
            for child in children:
                code = child.exit_code()
                if code is not None:
                    raise BenchFailed(f"{child.label} exited with code {code}: {child.last_log_line()}")
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _ready(run: _Run, program: Program) -> None:
    """Wait until the program's workers poll its task queue and its responder answers."""
    assert run.client is not None and run.nc is not None
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    kinds = [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW]
    if program.polls_activities:
        kinds.append(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    for kind in kinds:
        while not await _has_pollers(run.client, run.settings.temporal.namespace, program.task_queue, kind):
            _check_deadline(deadline, f"{program.name}: no worker polls task queue {program.task_queue}")
            await asyncio.sleep(0.2)
    if program.responder_subject is not None:
        while True:
            try:
                await run.nc.request(f"{program.responder_subject}.ping", b"", timeout=0.5)
                break
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                _check_deadline(deadline, f"{program.name}: its responder does not answer")
                await asyncio.sleep(0.2)


def _check_deadline(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise BenchFailed(f"{what} after {READY_TIMEOUT_SECONDS:g} s")


async def _has_pollers(client: Client, namespace: str, task_queue: str, kind: TaskQueueType.ValueType) -> bool:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind),
        timeout=timedelta(seconds=5),
    )
    return len(response.pollers) > 0


async def _refuse_injected_faults(nc: NATS, settings: Settings) -> None:
    """Faults live in the servers' KV: on a cluster someone may have injected some."""
    faults = await FaultsClient(nc, timeout=settings.nats.request_timeout_seconds).get()
    injected = sorted(service.value for service, fault in faults.items() if not fault.is_clear)
    if injected:
        raise BenchFailed(
            f"faults are injected on {', '.join(injected)}: the bench measures a clear run;"
            " `checkout faults clear` first"
        )


async def _stop(run: _Run) -> None:
    """Workers first (they would spin reconnecting), then the connections, then the servers."""
    await asyncio.gather(*(child.stop() for child in run.children))
    if run.nc is not None:
        try:
            await run.nc.close()
        except Exception:  # a half-dead connection must not stop the shutdown
            pass
    if run.servers is not None:
        await run.servers.stop()


# --- load and measurement ---------------------------------------------------------------------


def _cpu_meters(run: _Run, program: Program) -> dict[str, Callable[[], float] | None]:
    """Per role, how to read the CPU spent so far; None where the process is not ours."""
    meters: dict[str, Callable[[], float] | None] = {}
    mine = [child for child in run.children if child.program == program.name]
    for role in dict.fromkeys(child.role for child in mine):
        meters[role] = functools.partial(_cpu_of, [child for child in mine if child.role == role])
    server_pids = run.servers.pids if run.servers is not None else {}
    for role in (TEMPORAL_SERVER, NATS_SERVER):
        pid = server_pids.get(role)
        meters[role] = functools.partial(group_cpu_seconds, pid) if pid is not None else None
    meters[DRIVER] = functools.partial(process_cpu_seconds, os.getpid())
    return meters


def _cpu_of(children: list[ChildProcess]) -> float:
    return sum(child.cpu_seconds() for child in children)


def _read(meters: dict[str, Callable[[], float] | None]) -> dict[str, float | None]:
    return {role: meter() if meter is not None else None for role, meter in meters.items()}


def _spent(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float | None]:
    return {
        role: None if start is None or (end := after[role]) is None else end - start for role, start in before.items()
    }


async def _measure(
    run: _Run, program: Program, number: int, label: str, concurrency: int | None, rate: float | None, tag: str = ""
) -> RoundResult:
    """One measured round; `tag` tells its order ids apart from the numbered rounds'."""
    round_id = tag or str(number)
    order_ids = [f"bench-{run.run_id}-{program.name}-{round_id}-{n}" for n in range(run.options.orders)]
    if rate is not None:
        concurrency = None
    meters = _cpu_meters(run, program)
    run.observer.round_started(label, len(order_ids))
    before = _read(meters)
    started = time.perf_counter()
    outcomes = await _load(run, program, order_ids, concurrency, rate)
    seconds = time.perf_counter() - started
    after = _read(meters)
    spent = _spent(before, after)
    latencies = [latency for latency in outcomes.values() if latency is not None]
    result = RoundResult(
        program=program.name,
        number=number,
        orders=len(order_ids),
        completed=len(latencies),
        seconds=seconds,
        latencies=latencies,
        cpu_seconds=spent,
        concurrency=concurrency,
        rate=rate,
    )
    run.observer.round_finished(result)
    return result


async def _warm_up(run: _Run, program: Program) -> None:
    order_ids = [f"bench-{run.run_id}-{program.name}-w-{n}" for n in range(run.options.warmup)]
    run.observer.round_started(f"warm-up {program.name}", len(order_ids))
    await _load(run, program, order_ids, min(run.options.concurrency, len(order_ids)), None)
    run.observer.round_finished(None)


async def _load(
    run: _Run, program: Program, order_ids: list[str], concurrency: int | None, rate: float | None
) -> dict[str, float | None]:
    """Run the orders closed-loop (`concurrency` at a time) or open-loop (started at `rate`/s).

    Returns each order's latency in seconds, None for an order that failed or timed out."""
    outcomes: dict[str, float | None] = {}

    async def one(order_id: str) -> None:
        started = time.perf_counter()
        try:
            completed = await asyncio.wait_for(program.run_order(order_id), ORDER_TIMEOUT_SECONDS)
        except TimeoutError:
            completed = False
        outcomes[order_id] = time.perf_counter() - started if completed else None
        if completed:
            run.last_completed[program.name] = order_id
        run.observer.order_finished(completed)

    if rate is not None:
        begin = time.monotonic()
        tasks = []
        for n, order_id in enumerate(order_ids):
            await asyncio.sleep(max(0.0, begin + n / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(order_id)))
        await asyncio.gather(*tasks)
    else:
        queue = iter(order_ids)

        async def loop() -> None:
            for order_id in queue:
                await one(order_id)

        await asyncio.gather(*(loop() for _ in range(concurrency or 1)))
    return outcomes


async def _history_shape(run: _Run, program: Program) -> HistoryShape | None:
    """What one completed order of the program left in its Temporal history."""
    assert run.client is not None
    order_id = run.last_completed.get(program.name)
    if order_id is None:
        return None
    history = await run.client.get_workflow_handle(program.workflow_id(order_id)).fetch_history()
    kinds = Counter(event.event_type for event in history.events)
    return HistoryShape(
        events=len(history.events),
        workflow_tasks=kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED],
        activities=kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
        markers=kinds[EventType.EVENT_TYPE_MARKER_RECORDED],
    )
