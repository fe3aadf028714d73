"""What each benchmarked program runs (its processes, each with a role) and how one of its orders runs.

Every program gets its own task queue, so a worker running elsewhere on the same servers
never takes its orders, and its own processes, so their CPU is its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from nats.aio.client import Client as NATS
from temporalio.client import Client, WorkflowFailureError

from engine.bench.baselines.activities import BenchOrder
from engine.bench.baselines.workflows import EmptyWorkflow, TwoStepSaga
from engine.bench.stats import CHECKOUT, SERVICES, WORKER
from engine.config import CatalogueItem, Settings
from engine.models import OrderInput, OrderStatus
from engine.operations import Operations

PROGRAMS = (CHECKOUT, "minimal", "naive", "empty")
BENCH_SKU = "bench-item"
BENCH_PRICE_CENTS = 100
BENCH_STOCK = 10_000_000  # so stock never runs out, also over many runs against one cluster
BASELINES_MODULE = "engine.bench.baselines"


@dataclass(frozen=True)
class ProcessSpec:
    role: str
    argv: Sequence[str]
    env: dict[str, str] | None = None


@dataclass
class Program:
    name: str
    task_queue: str
    run_order: Callable[[str], Awaitable[bool]]
    """Start the order with this id and wait for its end: True when it completed as it should."""
    workflow_id: Callable[[str], str]
    processes: list[ProcessSpec] = field(default_factory=list)
    polls_activities: bool = False
    responder_subject: str | None = None
    """Where its responder answers (PREFIX.<anything>), to know it is up."""


def build_programs(
    names: Sequence[str],
    settings: Settings,
    client: Client,
    nc: NATS,
    run_id: str,
    run_dir: Path,
    checkout_command: Sequence[str],
    worker_processes: int = 1,
    services_apart: bool = False,
) -> list[Program]:
    builders = {
        CHECKOUT: lambda: checkout_program(
            settings, client, nc, run_id, run_dir, checkout_command, worker_processes, services_apart
        ),
        "minimal": lambda: two_step_program("minimal", settings, client, run_id),
        "naive": lambda: two_step_program("naive", settings, client, run_id),
        "empty": lambda: empty_program(settings, client, run_id),
    }
    return [builders[name]() for name in names]


def checkout_settings(settings: Settings, task_queue: str) -> Settings:
    """The user's settings, on the bench's task queue: hold 0 s, a SKU with ample stock, servers only used.
    The bench's checkout worker serves metrics where the user's `metrics.port` says, so that it
    is measured with the metrics it would run with (the bench itself serves none)."""
    return settings.connecting_only().model_copy(
        update={
            "metrics": settings.metrics,
            "temporal": settings.temporal.model_copy(update={"task_queue": task_queue}),
            "saga": settings.saga.model_copy(update={"hold_seconds": 0.0}),
            "catalogue": {
                **settings.catalogue,
                BENCH_SKU: CatalogueItem(name="Bench item", price_cents=BENCH_PRICE_CENTS, stock=BENCH_STOCK),
            },
        }
    )


def checkout_program(
    settings: Settings,
    client: Client,
    nc: NATS,
    run_id: str,
    run_dir: Path,
    checkout_command: Sequence[str],
    worker_processes: int = 1,
    services_apart: bool = False,
) -> Program:
    """The product as users run it: `checkout worker`, orders through the same facade `trigger` uses."""
    ours = checkout_settings(settings, f"bench-{run_id}-{CHECKOUT}")
    config = run_dir / "checkout.yaml"
    config.write_text(yaml.safe_dump(ours.model_dump(mode="json", exclude={"dashboard"})))
    # The config file says it all: variables that would override it are left out.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKOUT_", "TEMPORAL_HOST", "NATS_URL"))}
    ops = Operations(ours, client, nc)

    async def run_order(order_id: str) -> bool:
        order = OrderInput(
            order_id=order_id,
            customer_id="bench",
            items=[{"sku": BENCH_SKU, "quantity": 1, "unit_price_cents": BENCH_PRICE_CENTS}],
        )
        await ops.submit(order)
        state = await ops.result(order_id)
        return state.status is OrderStatus.COMPLETED

    return Program(
        name=CHECKOUT,
        task_queue=ours.temporal.task_queue,
        run_order=run_order,
        workflow_id=lambda order_id: f"order-{order_id}",
        processes=checkout_processes(
            [*checkout_command, "--config", str(config), "worker"], env, worker_processes, services_apart
        ),
        polls_activities=True,
    )


def checkout_processes(
    worker: list[str], env: dict[str, str], processes: int, services_apart: bool
) -> list[ProcessSpec]:
    """`checkout worker`, with its services inside it, or apart in a process of their own."""
    if not services_apart:
        return [ProcessSpec(WORKER, [*worker, "--processes", str(processes)], env)]
    return [
        ProcessSpec(WORKER, [*worker, "--only", "workflows", "--processes", str(processes)], env),
        ProcessSpec(SERVICES, [*worker, "--only", "services"], env),
    ]


def _baseline_worker(program: str, settings: Settings, task_queue: str, subject: str) -> ProcessSpec:
    argv = [sys.executable, "-m", BASELINES_MODULE, "worker", program]
    argv += ["--temporal", settings.temporal.host, "--namespace", settings.temporal.namespace]
    argv += ["--task-queue", task_queue, "--nats", settings.nats.url, "--subject", subject]
    return ProcessSpec(WORKER, argv)


def two_step_program(name: str, settings: Settings, client: Client, run_id: str) -> Program:
    task_queue, subject = f"bench-{run_id}-{name}", f"bench.{run_id}.{name}"
    responder = [sys.executable, "-m", BASELINES_MODULE, "responder", "--nats", settings.nats.url, "--subject", subject]

    async def run_order(order_id: str) -> bool:
        try:
            return (
                await client.execute_workflow(TwoStepSaga.run, BenchOrder(order_id), id=order_id, task_queue=task_queue)
                == "ok"
            )
        except WorkflowFailureError:
            return False

    return Program(
        name=name,
        task_queue=task_queue,
        run_order=run_order,
        workflow_id=lambda order_id: order_id,
        processes=[_baseline_worker(name, settings, task_queue, subject), ProcessSpec(SERVICES, responder)],
        polls_activities=True,
        responder_subject=subject,
    )


def empty_program(settings: Settings, client: Client, run_id: str) -> Program:
    task_queue = f"bench-{run_id}-empty"

    async def run_order(order_id: str) -> bool:
        try:
            return (
                await client.execute_workflow(
                    EmptyWorkflow.run, BenchOrder(order_id), id=order_id, task_queue=task_queue
                )
                == "ok"
            )
        except WorkflowFailureError:
            return False

    return Program(
        name="empty",
        task_queue=task_queue,
        run_order=run_order,
        workflow_id=lambda order_id: order_id,
        processes=[_baseline_worker("empty", settings, task_queue, f"bench.{run_id}.empty")],
    )
