"""A 3-node NATS cluster with JetStream on loopback, replicas 3: orders keep ending, and money and
stock stay right, when the node the worker is connected to is SIGKILLed mid-run."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from engine.config import NatsSettings, Settings
from engine.errors import ConfigError
from engine.events import STREAM, ensure_stream
from engine.models import OrderInput, OrderStatus, SagaState
from engine.nats_client import connect_nats, replica_errors
from engine.runtime import free_port
from engine.services.queries import ledger_totals, read_stock
from engine.services.store import FAULTS_BUCKET, LEDGER_BUCKET, REQUESTS_BUCKET, STOCK_BUCKET
from engine.stack import Stack
from tests.integration.conftest import pid_alive
from tests.support.nats_servers import NatsCluster

pytestmark = pytest.mark.integration

ORDERS = 20
BOUND_SECONDS = 45
CATALOGUE = {
    "book": {"name": "Book", "price_cents": 1250, "stock": 1000},
    "pen": {"name": "Pen", "price_cents": 300, "stock": 1000},
}


def cluster_settings(data_dir: Path, nats_url: str) -> Settings:
    return Settings(
        temporal={
            "host": f"127.0.0.1:{free_port()}",
            "ui_port": free_port(),
            "task_queue": f"cluster-{uuid.uuid4().hex[:8]}",
        },
        # auto: Temporal is local and silent, so it is embedded; NATS is the cluster's three URLs.
        nats={"url": nats_url, "replicas": 3, "request_timeout_seconds": 1},
        embedded={"mode": "auto", "data_dir": data_dir},
        saga={"hold_seconds": 0.5, "step_timeout_seconds": 3},
        retry={
            "initial_interval_seconds": 0.2,
            "maximum_interval_seconds": 1,
            "maximum_attempts": 15,  # a leader election takes a few seconds: ride it out
            "compensation_maximum_interval_seconds": 1,
        },
        catalogue=CATALOGUE,
    )


def an_order(index: int) -> OrderInput:
    items = [{"sku": "book", "quantity": 1 + index % 3, "unit_price_cents": 1250}]
    if index % 2:
        items.append({"sku": "pen", "quantity": 2, "unit_price_cents": 300})
    return OrderInput(order_id=f"cl-{index}-{uuid.uuid4().hex[:6]}", customer_id="cluster", items=items)


async def assert_nothing_lost(js: JetStreamContext, stock_before: dict[str, int], states: list[SagaState]) -> None:
    """Money and stock match the outcomes: only COMPLETED orders keep a charge and a reservation.
    Computed from the outcomes alone, beside the audit, which reads every record."""
    completed = [state.order for state in states if state.status is OrderStatus.COMPLETED]
    ledger = await ledger_totals(js)
    assert ledger.charged_cents - ledger.refunded_cents == sum(order.total_cents for order in completed)
    taken = Counter[str]()
    for order in completed:
        for item in order.items:
            taken[item.sku] += item.quantity
    stock = await read_stock(js)
    assert {sku: stock_before[sku] - stock[sku] for sku in CATALOGUE} == {sku: taken[sku] for sku in CATALOGUE}


async def test_orders_survive_the_loss_of_a_node(tmp_path: Path) -> None:
    started = time.monotonic()
    with NatsCluster(tmp_path / "nats") as cluster:
        await cluster.wait_until_ready()
        stack = Stack(cluster_settings(tmp_path / "stack", cluster.url))
        await stack.start()
        temporal_pids = list(stack.servers.pids.values())
        try:
            assert stack.servers.started == ["temporal"]
            assert stack.nc is not None
            js = stack.nc.jetstream()
            for bucket in (STOCK_BUCKET, LEDGER_BUCKET, REQUESTS_BUCKET, FAULTS_BUCKET):
                assert (await js.stream_info(f"KV_{bucket}")).config.num_replicas == 3
            assert (await js.stream_info(STREAM)).config.num_replicas == 3
            stock_before = await read_stock(js)
            assert {sku: stock_before[sku] for sku in CATALOGUE} == {"book": 1000, "pen": 1000}

            orders = [an_order(index) for index in range(ORDERS)]
            results: list[asyncio.Task[SagaState]] = []
            victim = None
            for index, order in enumerate(orders):
                await stack.facade.submit(order)
                results.append(asyncio.create_task(stack.facade.result(order.order_id)))
                if index == ORDERS // 2:
                    # The node this process talks to: its connection must move to another node, and
                    # the streams it leads must elect a new leader.
                    connected = stack.nc.connected_url
                    assert connected is not None
                    victim = next(node for node in cluster.nodes if node.port == connected.port)
                    victim.kill()
                await asyncio.sleep(0.1)
            assert victim is not None and not victim.running

            done, pending = await asyncio.wait(results, timeout=BOUND_SECONDS)
            assert not pending, f"{len(pending)} of {ORDERS} orders did not end within {BOUND_SECONDS} s"
            states = [task.result() for task in results]
            outcomes = Counter(state.status for state in states)
            assert set(outcomes) <= {OrderStatus.COMPLETED, OrderStatus.COMPENSATED}, outcomes
            assert outcomes[OrderStatus.COMPLETED] > 0, outcomes
            assert stack.nc.connected_url is not None and stack.nc.connected_url.port != victim.port
            await assert_nothing_lost(js, stock_before, states)
            audit = await stack.facade.audit()
            assert audit.clean and audit.ended == ORDERS, [d.message for d in audit.discrepancies]
        finally:
            await stack.stop()
    assert not any(node.running for node in cluster.nodes)
    assert not [pid for pid in temporal_pids if pid_alive(pid)], "the Temporal server was left running"
    assert time.monotonic() - started < 90


async def test_more_replicas_than_the_server_can_keep_is_one_config_line(nats_url: str) -> None:
    nc = await connect_nats(NatsSettings(url=nats_url))
    try:
        with pytest.raises(ConfigError) as error, replica_errors(3):
            await ensure_stream(nc.jetstream(), 1, replicas=3)
    finally:
        await nc.close()
    assert error.value.message.startswith("config key nats.replicas: NATS cannot keep 3 copies here")
    assert "\n" not in error.value.message and error.value.exit_code == 2
