"""`checkout bench` as a user runs it: real servers, every program, JSON out, nothing left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.processes import is_alive

pytestmark = pytest.mark.integration

ROLES_OF = {
    "checkout": ["worker"],  # its services run inside `checkout worker`
    "minimal": ["worker", "services"],
    "naive": ["worker", "services"],
    "empty": ["worker"],
}


def test_a_tiny_bench_measures_every_program_and_stops_everything() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKOUT_", "TEMPORAL_HOST", "NATS_URL"))}
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "bench", "--orders", "10", "--rounds", "1", "--warmup", "2", "--json"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    assert set(report["programs"]) == set(ROLES_OF)
    for name, figures in report["programs"].items():
        assert figures["completed"] == 10 and figures["failed"] == 0, name
        assert figures["sagas_per_second"] > 0, name
        assert len(figures["rounds_sagas_per_second"]) == 1
        latency = figures["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] < 60_000, name
        cpu = figures["cpu_seconds_per_saga"]
        assert sorted(cpu) == sorted([*ROLES_OF[name], "temporal", "nats", "driver"]), name
        assert all(seconds is not None and seconds >= 0 for seconds in cpu.values()), name
        assert cpu["worker"] > 0 and cpu["temporal"] > 0, name
        assert figures["history"]["events"] > 0 and figures["history"]["workflow_tasks"] >= 1, name
    # Its steps are local activities: one workflow task; markers for the settings, the three steps and
    # the patch (the workflow publishes its own events from the worker, not in an activity). At the
    # end it records its outcome: the memo's status and its CheckoutStatus, one event each.
    assert report["programs"]["checkout"]["history"] == {
        "events": 13,
        "workflow_tasks": 1,
        "activities": 0,
        "markers": 5,
    }
    assert report["programs"]["minimal"]["history"]["activities"] == 2
    assert report["programs"]["empty"]["history"]["activities"] == 0
    assert set(report["ratios"]) == {"checkout/minimal", "checkout/naive", "checkout/empty"}
    assert all(ratio > 0 for ratio in report["ratios"].values())

    servers = report["setup"]["servers"]
    assert servers["private"] and set(servers["pids"]) == {"temporal", "nats"}
    children = [process for processes in report["setup"]["processes"].values() for process in processes]
    assert sorted(p["role"] for p in children) == sorted(role for roles in ROLES_OF.values() for role in roles)
    pids = [*servers["pids"].values(), *(p["pid"] for p in children)]
    assert not [pid for pid in pids if is_alive(pid)], "the bench left processes running"


def test_bad_numbers_are_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "bench", "--concurrency", "0"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --concurrency must be at least 1"
