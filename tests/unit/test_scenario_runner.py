"""The runner's own logic on the in-memory facade (the real servers are in tests/integration/test_scenarios.py)."""

from __future__ import annotations

import asyncio

from engine.config import Settings
from engine.models import FaultSettings, ServiceName
from engine.scenarios.model import parse_scenario
from engine.scenarios.runner import ScenarioRun, ScenarioTarget
from tests.support.fake_facade import FakeFacade

BACK_TO_BACK = """\
name: back-to-back
hold_s: 0.2
load:
  phases: [{for_s: 4, rate: 5}]
steps:
  - {name: first, at_s: 0.5, for_s: 1, faults: {payment: {latency_ms: 10}}}
  - {name: second, for_s: 1.5, faults: {payment: {latency_ms: 20}}}
hypothesis: [lost_orders == 0, audit == clean]
"""


def fake() -> FakeFacade:
    return FakeFacade(Settings().model_copy(update={"saga": Settings().saga.model_copy(update={"hold_seconds": 0.2})}))


async def test_a_step_that_ends_leaves_the_next_steps_faults_in_force() -> None:
    facade = fake()
    run = ScenarioRun(parse_scenario(BACK_TO_BACK, "f.yaml"), ScenarioTarget(ops=facade, kind="embedded", hold_s=0.2))
    task = asyncio.create_task(run.run())
    await asyncio.sleep(2.0)  # the first step ended at 1.5 s, the second runs until 3 s
    assert facade._faults[ServiceName.PAYMENT] == FaultSettings(latency_ms=20)
    report = await task
    assert facade._faults[ServiceName.PAYMENT] == FaultSettings()  # the second cleared its own at its end
    assert [step.status for step in report.steps] == ["done", "done"]
    assert report.outcome.verdict == "pass" and report.totals.started >= 15


async def test_stop_clears_every_fault_lets_orders_end_and_says_stopped() -> None:
    facade = fake()
    scenario = parse_scenario(BACK_TO_BACK.replace("for_s: 4, rate: 5", "for_s: 30, rate: 5"), "f.yaml")
    run = ScenarioRun(scenario, ScenarioTarget(ops=facade, kind="embedded", hold_s=0.2))
    task = asyncio.create_task(run.run())
    await asyncio.sleep(1.0)
    assert facade._faults[ServiceName.PAYMENT] == FaultSettings(latency_ms=10)
    run.stop()
    report = await asyncio.wait_for(task, 20)
    assert all(settings.is_clear for settings in facade._faults.values())
    assert report.outcome.verdict == "stopped" and report.outcome.stopped_at_s is not None
    assert report.outcome.stopped_at_s < 2.0
    assert [step.status for step in report.steps] == ["cancelled", "skipped"]
    totals = report.totals
    assert totals.started < 15 and totals.lost == 0
    assert totals.completed + totals.compensated + totals.cancelled + totals.failed == totals.started
