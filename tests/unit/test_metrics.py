"""Metrics without servers: the settings, the names and labels the SDK's exporter serves for
checkout's own instruments, how a run's end becomes an outcome, the helpers' ports."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.runtime import Runtime

from engine.bench.programs import checkout_settings
from engine.config import MetricsSettings, Settings
from engine.errors import ConfigError
from engine.metrics import ServiceMetrics, StepMetrics, prometheus_config
from engine.models import FaultSettings, OrderInput, Reason, SagaState, ServiceName
from engine.order_metrics import COMPENSATED, COMPLETED, FAILED, outcome_of_failure
from engine.runtime import free_port, private_server_settings
from engine.stack import Stack
from engine.temporal_client import metrics_runtime, runtime
from engine.worker_processes import WorkerProcesses
from tests.support.prometheus import Scrape, scrape
from tui import cli


@pytest.fixture
def served() -> Iterator[tuple[Runtime, int]]:
    port = free_port()
    served = metrics_runtime(MetricsSettings(port=port))
    yield served, port
    del served  # the endpoint closes with the runtime


def scraped(port: int) -> Scrape:
    return scrape(f"http://127.0.0.1:{port}/metrics")


def test_metrics_are_off_by_default_and_then_cost_no_endpoint() -> None:
    assert Settings().metrics.port == 0
    assert prometheus_config(MetricsSettings()) is None
    assert metrics_runtime(MetricsSettings()) is runtime()


def test_the_bind_address_brackets_an_ipv6_host() -> None:
    assert MetricsSettings(port=9464).bind_address == "127.0.0.1:9464"
    assert MetricsSettings(port=9464, host="::1").bind_address == "[::1]:9464"


def test_a_process_on_a_parents_servers_serves_no_metrics_of_its_own() -> None:
    assert Settings(metrics={"port": 9464}).connecting_only().metrics.port == 0


def test_the_benchs_checkout_worker_serves_metrics_as_the_users_would() -> None:
    assert checkout_settings(Settings(metrics={"port": 9464}), "bench-q").metrics.port == 9464


def test_a_taken_port_is_one_line_naming_the_key() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as raised:
            metrics_runtime(MetricsSettings(port=port))
    message = raised.value.message
    assert message.startswith(f"config key metrics.port: cannot serve metrics on 127.0.0.1:{port} (")
    assert "\n" not in message


async def test_a_stack_whose_metrics_port_is_taken_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        stack = Stack(private_server_settings(Settings(metrics={"port": taken.getsockname()[1]}), tmp_path))
        with pytest.raises(ConfigError, match="config key metrics.port"):
            await stack.start()
    assert stack.servers.started == [] and not (tmp_path / "logs").exists()


def test_step_metrics_have_the_ecosystems_names_and_labels(served: tuple[Runtime, int]) -> None:
    served_runtime, port = served
    steps = StepMetrics(served_runtime.metric_meter)
    steps.step("charge", "ok", 0.004)
    steps.step("charge", "ok", 0.03)
    steps.step("ship", "lost", 2.0)
    steps.lost_reply(ServiceName.SHIPPING)
    steps.compensation(ServiceName.REFUND, "undone")
    steps.compensation(ServiceName.REFUND, "undone")
    metrics = scraped(port)
    assert metrics.value("checkout_step_duration_seconds_count", step="charge", outcome="ok") == 2
    assert metrics.value("checkout_step_duration_seconds_sum", step="charge", outcome="ok") == pytest.approx(0.034)
    assert metrics.value("checkout_step_duration_seconds_bucket", step="charge", outcome="ok", le="0.005") == 1
    assert metrics.value("checkout_step_duration_seconds_bucket", step="ship", outcome="lost", le="1") == 0
    assert metrics.value("checkout_lost_replies_total", endpoint="shipping") == 1
    assert metrics.value("checkout_compensations_total", endpoint="refund", outcome="undone") == 2
    assert metrics.types["checkout_step_duration_seconds"] == "histogram"
    assert metrics.types["checkout_lost_replies_total"] == "counter"


def test_service_metrics_count_per_endpoint_and_show_the_faults_in_force(served: tuple[Runtime, int]) -> None:
    served_runtime, port = served
    services = ServiceMetrics(served_runtime.metric_meter)
    services.faults_in_force({})
    for _ in range(3):
        services.request(ServiceName.PAYMENT)
    services.decline(ServiceName.PAYMENT, "card_declined")
    services.error(ServiceName.PAYMENT, "transient_error")
    metrics = scraped(port)
    assert metrics.value("checkout_service_requests_total", endpoint="payment") == 3
    assert metrics.value("checkout_service_declines_total", endpoint="payment", reason="card_declined") == 1
    assert metrics.value("checkout_service_errors_total", endpoint="payment", reason="transient_error") == 1
    for endpoint in ServiceName:  # every endpoint shows its faults, none at first
        assert metrics.value("checkout_fault_down", endpoint=endpoint.value) == 0
    services.faults_in_force(
        {ServiceName.SHIPPING: FaultSettings(error_rate=0.25, latency_ms=1500, down=True)},
    )
    metrics = scraped(port)
    assert metrics.value("checkout_fault_error_ratio", endpoint="shipping") == 0.25
    assert metrics.value("checkout_fault_latency_seconds", endpoint="shipping") == 1.5
    assert metrics.value("checkout_fault_down", endpoint="shipping") == 1
    assert metrics.value("checkout_fault_down", endpoint="payment") == 0


def _state(reason: Reason) -> SagaState:
    order = OrderInput(
        order_id="a1", customer_id="alice", items=[{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}]
    )
    return SagaState(order=order, started_at=datetime.now(UTC), reason=reason)


def test_a_runs_end_becomes_an_outcome_and_a_bounded_reason() -> None:
    compensated = ApplicationError(
        "order compensated: card_declined", _state(Reason.CARD_DECLINED), type="OrderCompensated"
    )
    assert outcome_of_failure(compensated) == (COMPENSATED, "card_declined")
    assert outcome_of_failure(CancelledError("cancelled")) == (COMPENSATED, "cancelled")
    assert outcome_of_failure(asyncio.CancelledError()) == (COMPENSATED, "cancelled")
    invalid = ApplicationError("invalid order: items: too short", type="InvalidOrder", non_retryable=True)
    assert outcome_of_failure(invalid) == (FAILED, "InvalidOrder")
    assert outcome_of_failure(ApplicationError("odd", type="a b/c" * 20))[1] == ("a_b_c" * 20)[:40]
    assert COMPLETED == "completed"


def test_helper_worker_processes_serve_on_the_next_ports() -> None:
    helpers = WorkerProcesses(2, ["checkout"], faults_enabled=True, metrics_port=9464)
    assert [helpers.metrics_port_of(index) for index in range(2)] == [9465, 9466]
    assert WorkerProcesses(2, ["checkout"], faults_enabled=True).metrics_port_of(0) == 0
    assert WorkerProcesses(1, ["checkout"], faults_enabled=True, metrics_port=65535).metrics_port_of(0) == 0


def test_the_nats_monitoring_port_is_the_client_port_plus_4000_unless_set() -> None:
    embedded = Settings().embedded
    assert embedded.monitor_port_for(4222) == 8222
    assert embedded.monitor_port_for(62000) == 0  # past 65535: none
    assert embedded.model_copy(update={"nats_monitor_port": 9000}).monitor_port_for(4222) == 9000
    assert embedded.model_copy(update={"nats_monitor_port": -1}).monitor_port_for(4222) == 0


def test_a_bad_metrics_port_on_the_command_line_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["worker", "--metrics-port", "70000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--metrics-port must be between 0 (none) and 65535")
    assert "\n" not in err


def test_the_scrape_helper_reads_what_the_endpoint_serves(served: tuple[Runtime, int]) -> None:
    """The parser the metrics tests rely on, checked against the raw text it parses."""
    served_runtime, port = served
    StepMetrics(served_runtime.metric_meter).lost_reply(ServiceName.PAYMENT)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'checkout_lost_replies_total{endpoint="payment",service_name="temporal-core-sdk"} 1' in text
    assert scraped(port).value("checkout_lost_replies_total", endpoint="payment") == 1
    with pytest.raises(KeyError):
        scraped(port).value("checkout_lost_replies_total", endpoint="shipping")
