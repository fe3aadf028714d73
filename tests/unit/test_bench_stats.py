"""The bench's figures from hand-made rounds: percentiles, medians, CPU per saga, ratios, JSON."""

from __future__ import annotations

import json
import math

import pytest

from engine.bench.stats import BenchReport, HistoryShape, ProgramSummary, RoundResult, percentile, ratios


def a_round(program: str, completed: int, seconds: float, **cpu: float | None) -> RoundResult:
    latencies = [0.1 * (n + 1) for n in range(completed)]  # 0.1 s, 0.2 s, ...
    return RoundResult(
        program=program,
        number=1,
        orders=completed + 1,  # one failed order per round
        completed=completed,
        seconds=seconds,
        latencies=latencies,
        cpu_seconds=dict(cpu),
        concurrency=20,
    )


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]  # 1..100
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.95) == 95
    assert percentile(values, 0.99) == 99
    assert percentile(values, 0.29) == 29  # 0.29 * 100 is 28.999999999999996 in floating point
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2
    assert percentile([5.0, 1.0], 0.99) == 5  # a small sample's p99 is its maximum
    assert percentile([], 0.5) is None


def test_program_summary_medians_rounds_and_pools_latency_and_cpu() -> None:
    summary = ProgramSummary(
        "checkout",
        [
            a_round("checkout", completed=10, seconds=2.0, worker=0.5, temporal=0.2, driver=0.1),  # 5/s
            a_round("checkout", completed=10, seconds=1.0, worker=0.3, temporal=0.2, driver=0.1),  # 10/s
            a_round("checkout", completed=20, seconds=2.5, worker=0.2, temporal=0.2, driver=0.0),  # 8/s
        ],
    )
    assert summary.sagas_per_second == 8.0
    assert summary.completed == 40 and summary.failed == 3
    latency = summary.latency_ms()
    # pooled: 0.1..1.0 twice and 0.1..2.0; nearest rank 20 of 40 is 0.7 s
    assert latency["p50"] == pytest.approx(700)
    assert latency["p99"] == pytest.approx(2000)
    cpu = summary.cpu_seconds_per_saga()
    assert cpu == pytest.approx({"worker": 1.0 / 40, "temporal": 0.6 / 40, "driver": 0.2 / 40})
    assert "services" not in cpu  # no process of that role: absent, not zero
    assert summary.cpu_seconds_total_per_saga() == pytest.approx(1.8 / 40)


def test_cpu_of_processes_that_are_not_ours_is_unknown() -> None:
    summary = ProgramSummary("minimal", [a_round("minimal", completed=4, seconds=1.0, worker=0.4, temporal=None)])
    assert summary.cpu_seconds_per_saga() == {"worker": pytest.approx(0.1), "temporal": None}
    assert summary.cpu_seconds_total_per_saga() is None


def test_ratios_compare_median_sagas_per_second() -> None:
    summaries = {
        "checkout": ProgramSummary("checkout", [a_round("checkout", 30, 1.0)]),
        "minimal": ProgramSummary("minimal", [a_round("minimal", 20, 1.0)]),
        "naive": ProgramSummary("naive", [a_round("naive", 10, 1.0)]),
        "empty": ProgramSummary("empty", [a_round("empty", 0, 1.0)]),
    }
    assert ratios(summaries) == {
        "checkout/minimal": pytest.approx(1.5),
        "checkout/naive": pytest.approx(3.0),
        "checkout/empty": None,  # the baseline finished nothing
    }
    assert ratios({"minimal": summaries["minimal"]}) == {}


def test_report_json_has_every_figure() -> None:
    report = BenchReport(
        setup={"orders": 10, "servers": {"private": True}},
        programs={
            "checkout": ProgramSummary(
                "checkout",
                [a_round("checkout", 10, 2.0, worker=0.5), a_round("checkout", 10, 1.0, worker=0.3)],
                HistoryShape(events=33, workflow_tasks=4, activities=3, markers=7),
            ),
            "minimal": ProgramSummary("minimal", [a_round("minimal", 10, 1.25, worker=0.1, services=0.05)]),
        },
        half_rate=ProgramSummary(
            "checkout", [RoundResult("checkout", 1, 4, 4, 1.0, [0.2, 0.3, 0.4, 0.5], {"worker": 0.1}, rate=3.75)]
        ),
    )
    document = json.loads(json.dumps(report.to_json()))  # plain JSON all the way down
    checkout = document["programs"]["checkout"]
    assert checkout["sagas_per_second"] == 7.5
    assert checkout["rounds_sagas_per_second"] == [5.0, 10.0]
    assert checkout["latency_ms"] == {"p50": 500.0, "p95": 1000.0, "p99": 1000.0}
    assert checkout["cpu_seconds_per_saga"] == {"worker": 0.04}
    assert checkout["completed"] == 20 and checkout["failed"] == 2
    assert checkout["history"] == {"events": 33, "workflow_tasks": 4, "activities": 3, "markers": 7}
    minimal = document["programs"]["minimal"]
    assert minimal["sagas_per_second"] == 8.0
    assert minimal["cpu_seconds_per_saga"] == {"worker": 0.01, "services": 0.005}
    assert minimal["history"] is None
    assert document["ratios"] == {"checkout/minimal": 0.938}  # 7.5 / 8, to 3 digits
    half = document["half_rate"]
    assert half["rate"] == 3.75 and half["latency_ms"]["p99"] == 500.0 and half["concurrency"] is None
    assert document["setup"] == {"orders": 10, "servers": {"private": True}}
    assert not any(isinstance(v, float) and math.isnan(v) for v in checkout["latency_ms"].values())
