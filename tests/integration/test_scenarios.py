"""Game days on real servers: `checkout scenario run` end to end, a failing hypothesis, an abort.

Each run starts a stack of its own (Temporal, nats-server, a `checkout worker`) on free ports
in a fresh directory, as `checkout scenario run` does without --attach, and stops it after.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import Settings
from engine.models import FaultSettings, ServiceName
from engine.scenarios.embedded import embedded_target
from engine.scenarios.model import parse_scenario
from engine.scenarios.plan import PlannedStep
from engine.scenarios.report import CheckResult, WindowFigures
from engine.scenarios.runner import ScenarioRun
from engine.stack import Stack

pytestmark = pytest.mark.integration

SHORT = """\
name: short
description: twelve seconds of orders, declines on payment, a NATS pause
seed: 1
hold_s: 1
load:
  phases:
    - {for_s: 4, rate: 2}
    - {for_s: 8, rate: 4, ramp: true}
  mix:
    - {sku: usb-cable, weight: 3, quantity: [1, 2]}
    - {sku: python-book}
  cancel: {share: 0.2, when: either}
steps:
  - {name: declines, at_s: 2, for_s: 6, faults: {payment: {decline_rate: 0.2}}}
  - {name: blip, at_s: 5, for_s: 2, pause: nats}
hypothesis:
  - lost_orders == 0
  - stuck_orders == 0
  - failed_ratio == 0
  - compensated_ratio < 0.6
  - p95_latency_ms < 20000
  - audit == clean
"""

DECLINES = """\
name: declines
description: a hypothesis that cannot hold under a 30% decline rate
seed: 2
hold_s: 1
load:
  phases:
    - {for_s: 10, rate: 3}
  mix: [{sku: usb-cable}]
steps:
  - {name: declines, at_s: 0, faults: {payment: {decline_rate: 0.3}}}
hypothesis:
  - compensated_ratio < 0.01
  - audit == clean
"""

ABORTS = """\
name: aborts
description: most payments decline from the start; the abort check must stop it long before its 60 s
seed: 3
hold_s: 1
load:
  phases:
    - {for_s: 60, rate: 4}
  mix: [{sku: usb-cable}]
steps:
  - {name: declines, at_s: 0, faults: {payment: {decline_rate: 0.7}, shipping: {latency_ms: 200}}}
  - {name: never reached, at_s: 50, for_s: 5, faults: {inventory: {down: true}}}
hypothesis:
  - audit == clean
abort_when:
  - compensated_ratio > 0.3
"""


def scenario_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKOUT_", "TEMPORAL_HOST", "NATS_URL"))}
    environment |= env or {}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "scenario", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=170,
    )


def test_a_short_scenario_end_to_end_with_its_report(tmp_path: Path) -> None:
    path = tmp_path / "short.yaml"
    path.write_text(SHORT)
    result = scenario_cli("run", str(path), "--report", str(tmp_path / "report"))
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "verdict: PASS" in result.stdout and "audit: clean" in result.stdout, result.stdout
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["schema_version"] == 1 and report["target"] == "embedded"
    assert report["scenario"]["name"] == "short" and report["scenario"]["duration_s"] == 12.0
    assert report["outcome"] == {"verdict": "pass", "aborted_by": None, "stopped_at_s": None, "failed_checks": []}
    assert [step["status"] for step in report["steps"]] == ["done", "done"]
    declines, blip = report["steps"]
    assert 1.9 < declines["started_s"] < 3.0 and 7.9 < declines["ended_s"] < 10.0, declines
    assert 4.9 < blip["started_s"] < 6.0 and blip["ended_s"] - blip["started_s"] >= 2.0, blip
    assert [(p["name"], p["lane"]) for p in report["plan"]] == [("declines", 0), ("blip", 1)]
    totals = report["totals"]
    assert totals["started"] >= 25 and totals["lost"] == 0 and totals["stuck"] == 0, totals
    ended = totals["completed"] + totals["compensated"] + totals["cancelled"] + totals["failed"]
    assert ended == totals["started"], totals  # every order the run started ended
    assert totals["completed"] > 0 and totals["cancelled"] > 0, totals
    windows = report["windows"]
    assert windows[0]["start_s"] == 0.0 and windows[0]["end_s"] == 10.0 and windows[0]["offered_rate"] > 0
    assert sum(window["started"] for window in windows) == totals["started"]
    assert sum(window["requests"].get("payment", 0) for window in windows) > 0
    checks = {check["expression"]: check for check in report["checks"]}
    assert all(check["passed"] for check in checks.values()), checks
    assert checks["audit == clean"]["value"] == 1.0
    assert report["audit"]["clean"] is True and report["audit"]["records"] > 0 and report["audit"]["problems"] == []


def test_a_failing_hypothesis_exits_1_naming_the_check(tmp_path: Path) -> None:
    path = tmp_path / "declines.yaml"
    path.write_text(DECLINES)
    result = scenario_cli("run", str(path), "--json")
    assert result.returncode == 1, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert report["outcome"]["verdict"] == "fail"
    assert report["outcome"]["failed_checks"] == ["compensated_ratio < 0.01"]
    failed = report["checks"][0]
    assert failed["passed"] is False and failed["value"] > 0.01 and failed["first_failed_s"] is not None, failed
    assert report["checks"][1]["passed"] is True  # the books still balance
    assert report["totals"]["compensated"] > 0


class Recorder:
    def __init__(self) -> None:
        self.phases: list[str] = []
        self.faults_seen: list[dict[str, dict[str, object]]] = []
        self.checks_seen: list[list[CheckResult]] = []
        self.windows: list[WindowFigures] = []

    def phase(self, name: str) -> None:
        self.phases.append(name)

    def step_started(self, step: PlannedStep, at_s: float) -> None:
        pass

    def step_ended(self, step: PlannedStep, at_s: float, status: str) -> None:
        pass

    def window(self, window: WindowFigures) -> None:
        self.windows.append(window)

    def checks(self, results: list[CheckResult]) -> None:
        self.checks_seen.append(results)

    def faults(self, faults: dict[str, dict[str, object]]) -> None:
        self.faults_seen.append(faults)


async def test_abort_when_stops_early_and_leaves_no_fault_set() -> None:
    scenario = parse_scenario(ABORTS, "aborts.yaml")
    recorder = Recorder()
    async with embedded_target(scenario, Settings(), worker_command=[sys.executable, "-m", "tui.cli"]) as target:
        report = await ScenarioRun(scenario, target, recorder).run()
        left = await target.ops.faults()
    assert report.outcome.verdict == "aborted" and report.outcome.aborted_by == "compensated_ratio > 0.3"
    assert report.outcome.stopped_at_s is not None and report.outcome.stopped_at_s < 40, report.outcome
    assert all(settings.is_clear for settings in left.values()), left
    assert recorder.faults_seen[0].keys() == {"payment", "shipping"} and recorder.faults_seen[-1] == {}
    assert [step.status for step in report.steps] == ["done", "skipped"]  # set until cleared; never reached
    assert recorder.phases == ["starting", "running", "draining", "auditing", "done"]
    fired = report.checks[1]
    assert fired.kind == "abort_when" and fired.passed is False and fired.first_failed_s is not None
    totals = report.totals
    assert totals.lost == 0 and totals.stuck == 0
    assert totals.completed + totals.compensated + totals.cancelled + totals.failed == totals.started  # in flight ended
    assert totals.started < 4 * 40  # no order started after the abort
    assert report.audit is not None and report.audit.clean


ATTACHED = """\
name: attached
description: faults and load on a cluster the run did not start
seed: 4
load:
  phases:
    - {for_s: 6, rate: 2}
  mix: [{sku: usb-cable}]
steps:
  - {name: declines, at_s: 1, for_s: 3, faults: {payment: {decline_rate: 0.2}}}
hypothesis:
  - lost_orders == 0
  - audit == clean
"""


async def test_attached_runs_refuse_set_faults_unless_forced(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "attached.yaml"
    path.write_text(ATTACHED)
    cluster = {
        "TEMPORAL_HOST": stack.settings.temporal.host,
        "NATS_URL": stack.settings.nats.url,
        "CHECKOUT_TEMPORAL__TASK_QUEUE": stack.settings.temporal.task_queue,
        "CHECKOUT_EMBEDDED__MODE": "never",
        "CHECKOUT_FAULTS__ENABLED": "true",
    }
    await stack.facade.set_faults(ServiceName.SHIPPING, FaultSettings(latency_ms=10))
    refused = await asyncio.to_thread(scenario_cli, "run", str(path), "--attach", env=cluster)
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert "faults are already set on shipping" in refused.stderr and "--force" in refused.stderr
    assert not [order for order in await stack.facade.list_orders() if order.order_id.startswith("gd-")]
    forced = await asyncio.to_thread(scenario_cli, "run", str(path), "--attach", "--force", "--json", env=cluster)
    assert forced.returncode == 0, (forced.stdout, forced.stderr)
    report = json.loads(forced.stdout)
    assert report["target"] == "attached" and report["outcome"]["verdict"] == "pass"
    assert report["totals"]["started"] >= 10 and report["totals"]["lost"] == 0
    assert all(settings.is_clear for settings in (await stack.facade.faults()).values())  # it clears every fault
