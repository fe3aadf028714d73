"""Scenario files for the dashboard's tests, and a scripted stand-in for `ScenarioRun`.

    runs = ScriptedRuns()
    app.runner = runs            # the Scenarios tab now builds FakeRuns
    runs.release.set()           # the run goes on to its end (or app.action_stop_scenario())

A FakeRun tells its observer a fixed story, the same every time (snapshots need that): the run
starts, its first step starts at its planned time, the faults of that step are in force, one
live window and the checks arrive; then it waits to be released or stopped, and returns a report
whose verdict is `verdict` (or `stopped`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.scenarios.model import Scenario
from engine.scenarios.plan import PlannedStep, timeline
from engine.scenarios.report import (
    AuditSummary,
    CheckResult,
    Outcome,
    Percentiles,
    PlannedStepRecord,
    ScenarioInfo,
    ScenarioReport,
    StepRecord,
    Totals,
    WindowFigures,
)
from engine.scenarios.runner import ScenarioObserver, ScenarioTarget

BROWNOUT = """\
name: payment-brownout
description: The payment provider slows down past the request timeout, then recovers; NATS blips meanwhile.
seed: 7
load:
  phases:
    - {for_s: 20, rate: 5, ramp: true}
    - {for_s: 80, rate: 5}
    - {for_s: 20, rate: 2}
steps:
  - name: slow payments
    at_s: 20
    for_s: 30
    faults: {payment: {latency_ms: 2500, jitter_ms: 500}}
  - name: payments recover
    for_s: 20
    faults: {payment: {latency_ms: 800}}
  - name: nats blip
    at_s: 30
    for_s: 5
    pause: nats
  - name: all clear
    at_s: 90
    clear_faults: all
hypothesis:
  - compensated_ratio < 0.1
  - p95_latency_ms < 4000
  - audit == clean
abort_when:
  - failed_ratio > 0.2
"""

OUTAGE = """\
name: inventory-outage
description: Inventory answers nothing for 30 s; orders compensate or wait, none is lost.
seed: 3
load:
  phases:
    - {for_s: 60, rate: 3}
steps:
  - name: inventory down
    at_s: 10
    for_s: 30
    faults: {inventory: {down: true}}
hypothesis:
  - lost_orders == 0
  - audit == clean
"""


FIGURES = {"compensated_ratio": 0.05, "p95_latency_ms": 2900.0, "audit": 1.0, "failed_ratio": 0.0}


def write_scenarios(directory: Path, files: dict[str, str] | None = None) -> Path:
    """The test scenario files (name -> YAML) in `directory`; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {"payment-brownout": BROWNOUT, "inventory-outage": OUTAGE}).items():
        (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return directory


class ScriptedRuns:
    """A runner (the Scenarios tab's `runner`): every run it builds is kept in `runs`."""

    def __init__(self, *, verdict: str = "pass") -> None:
        self.verdict = verdict
        self.release = asyncio.Event()
        self.runs: list[FakeRun] = []

    def __call__(self, scenario: Scenario, target: ScenarioTarget, observer: ScenarioObserver, file: Path) -> FakeRun:
        run = FakeRun(scenario, target, observer, file, self)
        self.runs.append(run)
        return run


class FakeRun:
    def __init__(
        self, scenario: Scenario, target: ScenarioTarget, observer: ScenarioObserver, file: Path, runs: ScriptedRuns
    ) -> None:
        self.scenario, self.target, self.observer, self.file, self.runs = scenario, target, observer, file, runs
        self.stopped = asyncio.Event()
        self.plan = timeline(scenario)
        self.ran = False

    def stop(self) -> None:
        self.stopped.set()

    async def run(self) -> ScenarioReport:
        self.ran = True
        observer, first = self.observer, self.plan[0]
        observer.phase("starting")
        observer.phase("running")
        observer.step_started(first, first.start_s)
        step = self.scenario.steps[0]
        faults = step.faults or {}
        observer.faults({s.value: f.model_dump(exclude_defaults=True) for s, f in faults.items()})
        observer.window(self._window(first.start_s + 14.0))
        observer.checks(self._checks(final=False))
        release = asyncio.create_task(self.runs.release.wait())
        stop = asyncio.create_task(self.stopped.wait())
        await asyncio.wait({release, stop}, return_when=asyncio.FIRST_COMPLETED)
        release.cancel()
        stop.cancel()
        stopped = self.stopped.is_set()
        ended_at = first.start_s + 20.0 if stopped else self.scenario.duration_s
        observer.step_ended(first, ended_at, "cancelled" if stopped else "done")
        observer.faults({})
        observer.phase("draining")
        observer.phase("auditing")
        results = self._checks(final=True)
        observer.checks(results)
        observer.phase("done")
        return self._report(results, stopped, ended_at)

    def _window(self, end_s: float) -> WindowFigures:
        return WindowFigures(
            start_s=20.0,
            end_s=end_s,
            offered_rate=5.0,
            started=20,
            completed=14,
            compensated=1,
            cancelled=0,
            failed=0,
            in_flight=5,
            latency_ms=Percentiles(p50=410.0, p95=2900.0, p99=3100.0),
            partial=True,
        )

    def _checks(self, *, final: bool) -> list[CheckResult]:
        results = []
        for position, check in enumerate(self.scenario.hypothesis_checks()):
            value = FIGURES.get(check.metric, 0.0)
            known = final or check.metric != "audit"
            failing = self.runs.verdict == "fail" and position == 0 and known  # the first check fails
            results.append(
                CheckResult(
                    expression=check.text,
                    kind="hypothesis",
                    passed=(not failing) if known else None,
                    value=(value + 3 if failing else value) if known else None,
                    threshold=check.threshold,
                    first_failed_s=31.0 if failing else None,
                )
            )
        for check in self.scenario.abort_checks():
            results.append(
                CheckResult(expression=check.text, kind="abort_when", passed=True, value=0.0, threshold=check.threshold)
            )
        return results

    def _report(self, results: list[CheckResult], stopped: bool, ended_at: float) -> ScenarioReport:
        failed = [r.expression for r in results if r.kind == "hypothesis" and not r.passed]
        verdict = "stopped" if stopped else self.runs.verdict
        return ScenarioReport(
            scenario=ScenarioInfo(
                name=self.scenario.name,
                description=self.scenario.description,
                seed=self.scenario.seed,
                file=str(self.file),
                duration_s=self.scenario.duration_s,
            ),
            started_at="2026-03-02T14:30:00Z",
            ended_at="2026-03-02T14:32:00Z",
            target=self.target.kind,
            plan=[PlannedStepRecord(**vars(step)) for step in self.plan],
            steps=[self._step_record(step, stopped) for step in self.plan],
            windows=[self._window(40.0)],
            checks=results,
            outcome=Outcome(
                verdict=verdict,
                stopped_at_s=ended_at if stopped else None,
                failed_checks=failed,
            ),
            totals=Totals(
                started=480,
                completed=449 if verdict == "fail" else 452,
                compensated=21,
                cancelled=7,
                lost=3 if verdict == "fail" else 0,
            ),
            audit=AuditSummary(clean=True, records=1920),
        )

    @staticmethod
    def _step_record(step: PlannedStep, stopped: bool) -> StepRecord:
        status = "done" if not stopped else "cancelled" if step.index == 0 else "skipped"
        return StepRecord(
            index=step.index,
            name=step.name,
            kind=step.kind,
            planned_start_s=step.start_s,
            started_s=step.start_s if status != "skipped" else None,
            ended_s=step.end_s if status == "done" else None,
            status=status,
            detail=step.detail,
        )
