"""From measured rounds to the figures `checkout bench` reports: plain data, no I/O.

Latency percentiles and CPU per saga pool every round of a program; throughput is the
median of the rounds' sagas per second, the figure the ratios compare.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Who spent the CPU, in the order reports show them.
WORKER, SERVICES, TEMPORAL_SERVER, NATS_SERVER, DRIVER = "worker", "services", "temporal", "nats", "driver"
ROLES = (WORKER, SERVICES, TEMPORAL_SERVER, NATS_SERVER, DRIVER)

CHECKOUT = "checkout"
BASELINES = ("minimal", "naive", "empty")
PERCENTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


def _rounded(value: float | None, digits: int) -> float | None:
    """JSON figures keep the digits that mean something (CPU times come in 10 ms clock ticks)."""
    return None if value is None else round(value, digits)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `fraction` of the values at or below it.

    With fewer than 100 values, p99 is the maximum: no interpolation flatters a small sample."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(round(fraction * len(ordered), 9))  # round: 0.29 * 100 is 28.999999999999996
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class RoundResult:
    """One program under load once: closed loop (`concurrency`) or open loop (`rate`)."""

    program: str
    number: int
    orders: int
    completed: int
    seconds: float
    """Wall time from the first start to the last result."""
    latencies: Sequence[float]
    """Seconds from the start call to the result, per completed order."""
    cpu_seconds: dict[str, float | None]
    """CPU spent during the round per role; None where the process is not ours to measure."""
    concurrency: int | None = None
    rate: float | None = None

    @property
    def failed(self) -> int:
        return self.orders - self.completed

    @property
    def sagas_per_second(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class HistoryShape:
    """What one completed saga of a program leaves in Temporal: each workflow task is an activation."""

    events: int
    workflow_tasks: int
    activities: int
    markers: int
    """Local activities, patches and side effects."""

    def to_json(self) -> dict[str, int]:
        return {
            "events": self.events,
            "workflow_tasks": self.workflow_tasks,
            "activities": self.activities,
            "markers": self.markers,
        }


@dataclass(frozen=True)
class ProgramSummary:
    program: str
    rounds: Sequence[RoundResult]
    history: HistoryShape | None = None

    @property
    def sagas_per_second(self) -> float:
        """The median over rounds: the figure the ratios compare."""
        return statistics.median(r.sagas_per_second for r in self.rounds) if self.rounds else 0.0

    @property
    def completed(self) -> int:
        return sum(r.completed for r in self.rounds)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.rounds)

    @property
    def latencies(self) -> list[float]:
        return [latency for r in self.rounds for latency in r.latencies]

    def latency_ms(self) -> dict[str, float | None]:
        latencies = self.latencies
        values = {name: percentile(latencies, fraction) for name, fraction in PERCENTILES.items()}
        return {name: None if value is None else value * 1000 for name, value in values.items()}

    def cpu_seconds_per_saga(self) -> dict[str, float | None]:
        """Per role, the CPU of every round over the sagas completed in them. A role the program
        has no process for is absent; None where the process is not ours (attached servers)."""
        completed = self.completed
        per_saga: dict[str, float | None] = {}
        for role in ROLES:
            spent = [r.cpu_seconds[role] for r in self.rounds if role in r.cpu_seconds]
            if not spent:
                continue
            known = [seconds for seconds in spent if seconds is not None]
            per_saga[role] = sum(known) / completed if completed and len(known) == len(spent) else None
        return per_saga

    def cpu_seconds_total_per_saga(self) -> float | None:
        values = self.cpu_seconds_per_saga().values()
        return None if not values or None in values else sum(v for v in values if v is not None)

    def to_json(self) -> dict[str, Any]:
        first = self.rounds[0] if self.rounds else None
        return {
            "sagas_per_second": _rounded(self.sagas_per_second, 3),
            "rounds_sagas_per_second": [_rounded(r.sagas_per_second, 3) for r in self.rounds],
            "latency_ms": {name: _rounded(ms, 1) for name, ms in self.latency_ms().items()},
            "cpu_seconds_per_saga": {role: _rounded(cpu, 6) for role, cpu in self.cpu_seconds_per_saga().items()},
            "cpu_seconds_per_saga_total": _rounded(self.cpu_seconds_total_per_saga(), 6),
            "completed": self.completed,
            "failed": self.failed,
            "concurrency": first.concurrency if first else None,
            "rate": first.rate if first else None,
            "history": self.history.to_json() if self.history else None,
        }


def ratios(summaries: dict[str, ProgramSummary]) -> dict[str, float | None]:
    """checkout's median sagas/s over each baseline's that ran (None when a baseline finished nothing)."""
    checkout = summaries.get(CHECKOUT)
    if checkout is None:
        return {}
    found: dict[str, float | None] = {}
    for baseline in BASELINES:
        if baseline in summaries:
            denominator = summaries[baseline].sagas_per_second
            found[f"{CHECKOUT}/{baseline}"] = checkout.sagas_per_second / denominator if denominator else None
    return found


@dataclass
class BenchReport:
    """Everything one `checkout bench` run measured, and how."""

    setup: dict[str, Any]
    """How it ran: orders, concurrency or rate, rounds, servers, machine."""
    programs: dict[str, ProgramSummary] = field(default_factory=dict)
    half_rate: ProgramSummary | None = None
    """checkout at half its maximum rate (open loop), with `--latency-at-half`."""

    def ratios(self) -> dict[str, float | None]:
        return ratios(self.programs)

    def to_json(self) -> dict[str, Any]:
        return {
            "setup": self.setup,
            "programs": {name: summary.to_json() for name, summary in self.programs.items()},
            "ratios": {name: _rounded(ratio, 3) for name, ratio in self.ratios().items()},
            "half_rate": self.half_rate.to_json() if self.half_rate else None,
        }
