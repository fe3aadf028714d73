"""The Prometheus endpoint on the real embedded stack: scraped after real orders, its counters
must say exactly what happened; `checkout worker --metrics-port` and its helpers serve theirs;
the embedded nats-server's monitoring answers beside its client port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from engine.config import NATS_MONITOR_OFFSET, Settings
from engine.models import FaultSettings, OrderInput, OrderStatus, Reason, ServiceName
from engine.runtime import EmbeddedServers, free_port, is_listening
from engine.stack import Stack
from tests.support.prometheus import Scrape, scrape
from tests.support.servers import pid_alive
from tests.support.stack import stack_settings

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    settings = stack_settings(
        tmp_path_factory.mktemp("metrics"),
        saga={"hold_seconds": 0, "step_timeout_seconds": 2},
        metrics={"port": free_port()},
    )
    running = Stack(settings)
    await running.start()
    pids = list(running.servers.pids.values())
    try:
        yield running
    finally:
        await running.stop()
        assert not [pid for pid in pids if pid_alive(pid)], "embedded servers left running"
        assert not is_listening("127.0.0.1", settings.metrics.port), "the metrics endpoint was left open"


def metrics_of(stack: Stack) -> Scrape:
    return scrape(f"http://{stack.settings.metrics.bind_address}/metrics")


async def scraped(stack: Stack) -> Scrape:
    return await asyncio.to_thread(metrics_of, stack)


async def until_scraped(stack: Stack, name: str, value: float, timeout: float = 10, **labels: str) -> Scrape:
    deadline = time.monotonic() + timeout
    while True:
        metrics = await scraped(stack)
        if metrics.total(name, **labels) == value:
            return metrics
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{labels} is {metrics.total(name, **labels)}, never {value}")
        await asyncio.sleep(0.1)


def order() -> OrderInput:
    return OrderInput(
        order_id=uuid.uuid4().hex[:12],
        customer_id="metrics",
        items=[{"sku": "golang-book", "quantity": 1, "unit_price_cents": 3999}],
    )


async def run(stack: Stack) -> OrderStatus:
    placed = order()
    await stack.facade.submit(placed)
    return (await stack.facade.result(placed.order_id)).status


async def with_fault(stack: Stack, service: ServiceName, faults: FaultSettings, gauge: str) -> OrderStatus:
    """One order under `faults`, set once the services' gauge shows them in force, cleared after."""
    await stack.facade.set_faults(service, faults)
    await until_scraped(stack, gauge, 1, endpoint=service.value)
    try:
        return await run(stack)
    finally:
        await stack.facade.clear_faults()
        await until_scraped(stack, gauge, 0, endpoint=service.value)


async def test_the_counters_say_what_happened_to_a_few_real_orders(stack: Stack) -> None:
    assert [await run(stack), await run(stack)] == [OrderStatus.COMPLETED] * 2
    declined = await with_fault(
        stack, ServiceName.PAYMENT, FaultSettings(decline_rate=1), "checkout_fault_decline_ratio"
    )
    lost = await with_fault(stack, ServiceName.SHIPPING, FaultSettings(down=True), "checkout_fault_down")
    assert [declined, lost] == [OrderStatus.COMPENSATED] * 2
    attempts = stack.settings.retry.maximum_attempts  # of ship, each without a reply
    # The last order's end is counted as its workflow task completes, a moment after its result.
    metrics = await until_scraped(stack, "checkout_orders_total", 4)

    orders = {"task_queue": stack.settings.temporal.task_queue, "workflow_type": "OrderWorkflow"}
    assert metrics.value("checkout_orders_total", outcome="completed", reason="none", **orders) == 2
    assert (
        metrics.value("checkout_orders_total", outcome="compensated", reason=Reason.CARD_DECLINED.value, **orders) == 1
    )
    assert metrics.value("checkout_orders_total", outcome="compensated", reason=Reason.RETRIES_EXHAUSTED.value) == 1

    requests = {"inventory": 4, "payment": 4, "shipping": 2 + attempts, "refund": 2, "restock": 2}
    for endpoint, count in requests.items():
        assert metrics.value("checkout_service_requests_total", endpoint=endpoint) == count, endpoint
    assert metrics.value("checkout_service_declines_total", endpoint="payment", reason="card_declined") == 1
    assert metrics.total("checkout_service_declines_total") == 1
    assert metrics.value("checkout_service_errors_total", endpoint="shipping", reason="down") == attempts
    assert metrics.total("checkout_service_errors_total") == attempts

    assert metrics.value("checkout_lost_replies_total", endpoint="shipping") == attempts
    assert metrics.total("checkout_lost_replies_total") == attempts
    # Every compensation of a compensated order runs: the declined order was never charged.
    assert metrics.value("checkout_compensations_total", endpoint="refund", outcome="undone") == 1
    assert metrics.value("checkout_compensations_total", endpoint="refund", outcome="nothing_to_undo") == 1
    assert metrics.value("checkout_compensations_total", endpoint="restock", outcome="undone") == 2

    duration = "checkout_step_duration_seconds_count"
    assert metrics.value(duration, step="charge", outcome="ok") == 3
    assert metrics.value(duration, step="charge", outcome="declined") == 1
    assert metrics.value(duration, step="ship", outcome="ok") == 2
    assert metrics.value(duration, step="ship", outcome="lost") == attempts
    timeout = stack.settings.nats.request_timeout_seconds
    assert metrics.value("checkout_step_duration_seconds_sum", step="ship", outcome="lost") >= attempts * timeout
    assert metrics.types["checkout_step_duration_seconds"] == "histogram"

    for endpoint in ServiceName:  # the faults were cleared: none in force
        assert metrics.value("checkout_fault_down", endpoint=endpoint.value) == 0
        assert metrics.value("checkout_fault_decline_ratio", endpoint=endpoint.value) == 0

    # The SDK's own, on the same endpoint, with the ecosystem's suffixes.
    assert metrics.total("temporal_workflow_completed_total") == 2
    assert metrics.total("temporal_workflow_failed_total") == 2  # a compensated order's run fails
    assert metrics.types["temporal_request_latency_seconds"] == "histogram"
    assert all("order_id" not in sample.labels for sample in metrics.samples)


async def test_a_lost_reply_is_counted_by_the_service_that_lost_it_and_the_step_that_waited(stack: Stack) -> None:
    before = await scraped(stack)
    faults = FaultSettings(lost_reply_rate=1)
    status = await with_fault(stack, ServiceName.PAYMENT, faults, "checkout_fault_lost_reply_ratio")
    assert status is OrderStatus.COMPENSATED
    attempts = stack.settings.retry.maximum_attempts  # of charge, each applied once and never answered
    name = "checkout_service_lost_replies_total"
    metrics = await until_scraped(stack, name, before.total(name, endpoint="payment") + attempts, endpoint="payment")
    assert metrics.types[name] == "counter"
    assert metrics.total(name) - before.total(name) == attempts  # on no other endpoint
    waited = "checkout_lost_replies_total"
    assert metrics.total(waited, endpoint="payment") - before.total(waited, endpoint="payment") == attempts
    assert metrics.value("checkout_fault_lost_reply_ratio", endpoint="payment") == 0  # cleared


def _checkout_env(stack: Stack) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHECKOUT_")}
    return environment | {
        "TEMPORAL_HOST": stack.settings.temporal.host,
        "NATS_URL": stack.settings.nats.url,
        "CHECKOUT_TEMPORAL__TASK_QUEUE": stack.settings.temporal.task_queue,
        "CHECKOUT_EMBEDDED__MODE": "never",
        "CHECKOUT_EMBEDDED__DATA_DIR": str(stack.settings.embedded.data_dir),
    }


def _free_pair() -> int:
    """A free port whose next one is free too (the worker's and its helper's)."""
    while True:
        port = free_port()
        if port < 65535 and not is_listening("127.0.0.1", port + 1):
            return port


async def test_checkout_worker_and_its_helper_serve_their_metrics_on_consecutive_ports(stack: Stack) -> None:
    port = _free_pair()
    worker = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "worker", "--processes", "2", "--metrics-port", str(port)],
        env=_checkout_env(stack),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        served: dict[int, Scrape] = {}
        while len(served) < 2:
            assert worker.poll() is None, worker.communicate()[0]
            assert time.monotonic() < deadline, "the worker and its helper never served metrics"
            for each in (port, port + 1):
                try:
                    metrics = await asyncio.to_thread(scrape, f"http://127.0.0.1:{each}/metrics")
                except OSError:
                    continue
                if metrics.matching("checkout_fault_down"):  # its services have started
                    served[each] = metrics
            await asyncio.sleep(0.2)
        for metrics in served.values():
            assert len(metrics.matching("checkout_fault_down")) == len(ServiceName)
    finally:
        worker.send_signal(signal.SIGINT)
        output, _ = await asyncio.to_thread(worker.communicate, timeout=30)
    assert worker.returncode == 0, output
    assert f"metrics: http://127.0.0.1:{port}/metrics (worker-2..2: the next ports)" in output
    assert not is_listening("127.0.0.1", port) and not is_listening("127.0.0.1", port + 1)


async def test_the_embedded_nats_server_monitors_on_its_client_port_plus_4000(tmp_path: Path) -> None:
    while not (port := free_port()) + NATS_MONITOR_OFFSET <= 65535 or is_listening(
        "127.0.0.1", port + NATS_MONITOR_OFFSET
    ):
        pass
    settings = Settings(nats={"url": f"nats://127.0.0.1:{port}"}, embedded={"mode": "always", "data_dir": tmp_path})
    async with EmbeddedServers(settings, temporal=False):
        url = f"http://127.0.0.1:{port + NATS_MONITOR_OFFSET}/varz"
        varz = await asyncio.to_thread(lambda: json.load(urllib.request.urlopen(url, timeout=5)))
        assert varz["port"] == port
        assert varz["http_host"] == "127.0.0.1"
