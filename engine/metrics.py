"""Prometheus metrics: the Temporal SDK's and checkout's own, on one endpoint (`metrics.port`).

Checkout's own metrics are made with the SDK runtime's metric meter, not with a second
library: the SDK's Prometheus exporter then serves both on one port, in one process, and a
process with `metrics.port` unset pays for no-op calls only (the SDK's no-op meter). The
exporter appends `_total` to counters and the unit to histograms (`_seconds`), and every
series carries the SDK's `service_name="temporal-core-sdk"` label.

Labels are few and bounded: `endpoint` (the service endpoints), `step`, `outcome`, `reason`
(reply codes and saga reasons): never an order or a customer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar

from temporalio.common import MetricCommon, MetricMeter
from temporalio.runtime import PrometheusConfig

from engine.config import MetricsSettings
from engine.models import FaultSettings, ServiceName

STEP_DURATION = "checkout_step_duration"
STEP_BUCKETS: Sequence[float] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

M = TypeVar("M", bound=MetricCommon)

# The outcomes of one service call as a step sees it; of a compensation the service carried out.
OK, DECLINED, ERROR, LOST = "ok", "declined", "error", "lost"
UNDONE, NOTHING_TO_UNDO, FOUND_SHIPPED = "undone", "nothing_to_undo", "found_shipped"


def prometheus_config(settings: MetricsSettings) -> PrometheusConfig | None:
    """The SDK exporter's configuration, with the ecosystem's names; None when `metrics.port` is 0."""
    if not settings.port:
        return None
    return PrometheusConfig(
        bind_address=settings.bind_address,
        counters_total_suffix=True,
        unit_suffix=True,
        durations_as_seconds=True,
        histogram_bucket_overrides={STEP_DURATION: STEP_BUCKETS},
    )


class _Labelled(Generic[M]):
    """One instrument, bound once per label set: the SDK's bound instruments cost the least per call."""

    def __init__(self, instrument: M) -> None:
        self._instrument = instrument
        self._bound: dict[tuple[tuple[str, str], ...], M] = {}

    def __call__(self, **labels: str) -> M:
        key = tuple(labels.items())
        instrument = self._bound.get(key)
        if instrument is None:
            instrument = self._bound[key] = self._instrument.with_additional_attributes(labels)
        return instrument


class StepMetrics:
    """What the worker's steps see of the services: latency by outcome, lost replies, compensations."""

    def __init__(self, meter: MetricMeter) -> None:
        self._duration = _Labelled(
            meter.create_histogram_float(
                STEP_DURATION, "Time from a step's request to its reply (or to giving up on it)", "seconds"
            )
        )
        self._lost = _Labelled(
            meter.create_counter("checkout_lost_replies", "Service requests with no reply within the timeout")
        )
        self._compensations = _Labelled(
            meter.create_counter("checkout_compensations", "Compensation calls the service carried out, by outcome")
        )

    def step(self, step: str, outcome: str, seconds: float) -> None:
        self._duration(step=step, outcome=outcome).record(seconds)

    def lost_reply(self, endpoint: ServiceName) -> None:
        self._lost(endpoint=endpoint.value).add(1)

    def compensation(self, endpoint: ServiceName, outcome: str) -> None:
        self._compensations(endpoint=endpoint.value, outcome=outcome).add(1)


class ServiceMetrics:
    """What the services' endpoints answered, and the faults in force in this process."""

    def __init__(self, meter: MetricMeter) -> None:
        self._requests = _Labelled(meter.create_counter("checkout_service_requests", "Requests an endpoint took"))
        self._errors = _Labelled(
            meter.create_counter(
                "checkout_service_errors", "Answers other than ok and declines, and requests dropped by `down`"
            )
        )
        self._declines = _Labelled(meter.create_counter("checkout_service_declines", "Business declines, by code"))
        self._lost = _Labelled(
            meter.create_counter(
                "checkout_service_lost_replies", "Answers decided and stored, then never sent (injected lost replies)"
            )
        )
        self._fault_gauges = {
            "error_rate": meter.create_gauge_float("checkout_fault_error_ratio", "Injected error rate in force"),
            "decline_rate": meter.create_gauge_float("checkout_fault_decline_ratio", "Injected decline rate in force"),
            "latency_ms": meter.create_gauge_float("checkout_fault_latency_seconds", "Injected latency in force"),
            "jitter_ms": meter.create_gauge_float("checkout_fault_jitter_seconds", "Injected jitter in force"),
            "down": meter.create_gauge_float("checkout_fault_down", "1 while the endpoint is injected down"),
            "lost_reply_rate": meter.create_gauge_float(
                "checkout_fault_lost_reply_ratio", "Injected lost-reply rate in force"
            ),
        }

    def request(self, endpoint: ServiceName) -> None:
        self._requests(endpoint=endpoint.value).add(1)

    def error(self, endpoint: ServiceName, reason: str) -> None:
        self._errors(endpoint=endpoint.value, reason=reason).add(1)

    def decline(self, endpoint: ServiceName, reason: str) -> None:
        self._declines(endpoint=endpoint.value, reason=reason).add(1)

    def lost_reply(self, endpoint: ServiceName) -> None:
        self._lost(endpoint=endpoint.value).add(1)

    def faults_in_force(self, faults: Mapping[ServiceName, FaultSettings]) -> None:
        """Set the fault gauges of every endpoint (those without faults to 0)."""
        for endpoint in ServiceName:
            settings = faults.get(endpoint) or FaultSettings()
            values = {
                "error_rate": settings.error_rate,
                "decline_rate": settings.decline_rate,
                "latency_ms": settings.latency_ms / 1000,
                "jitter_ms": settings.jitter_ms / 1000,
                "down": 1.0 if settings.down else 0.0,
                "lost_reply_rate": settings.lost_reply_rate,
            }
            for key, gauge in self._fault_gauges.items():
                gauge.set(values[key], {"endpoint": endpoint.value})


NOOP = MetricMeter.noop
