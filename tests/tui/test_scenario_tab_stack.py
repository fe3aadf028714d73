"""A scenario run from the Scenarios tab over the REAL embedded stack: Temporal dev server,
nats-server, services and worker, started (and supervised) as the dashboard starts them.

A few seconds of orders with declines and a one-second pause of the nats-server this stack
started; the tab shows the verdict and where the report went, and the report, the orders and
the faults left behind are checked on the servers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from engine.stack import Stack
from tests.support.dashboard import started, visible_lines, wait_until
from tests.support.stack import stack_settings
from tui.app import CheckoutApp
from tui.screens.confirm import ConfirmScreen

pytestmark = pytest.mark.integration

TINY = """\
name: tab-tiny
description: a few seconds of orders, declines and a NATS blip, run from the dashboard
seed: 5
load:
  phases:
    - {for_s: 5, rate: 2}
steps:
  - {name: declines, at_s: 1, for_s: 2, faults: {payment: {decline_rate: 0.5}}}
  - {name: blip, at_s: 3, for_s: 1, pause: nats}
hypothesis:
  - lost_orders == 0
  - stuck_orders == 0
  - audit == clean
"""


@pytest_asyncio.fixture(loop_scope="session")
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path / "data", dashboard={"replay_hours": 1, "reconcile_seconds": 2})
    running = Stack(settings, supervise=True)  # as `checkout dashboard` runs it
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def test_a_tiny_scenario_runs_from_the_tab_to_its_verdict_and_report(stack: Stack, tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "tab-tiny.yaml").write_text(TINY, encoding="utf-8")
    app = CheckoutApp(stack, owns_stack=False)
    app.scenario_dirs = [scenarios]
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await wait_until(pilot, lambda: app.scenarios_panel.files, what="the file listed")
        await pilot.press("G", "enter")
        await wait_until(pilot, lambda: any(b.has_focus for b in app.screen.query("#confirm")), what="the question")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: app.scenario_running, what="the run started")
        progress = app.scenario_progress
        assert progress is not None
        await wait_until(pilot, lambda: progress.statuses.get(1) == "running", timeout=30, what="the nats pause")
        await wait_until(pilot, lambda: progress.report is not None or progress.error, timeout=180, what="the end")
        assert progress.error is None and progress.report is not None
        assert progress.report.outcome.verdict == "pass", progress.report.outcome
        await wait_until(pilot, lambda: "PASS tab-tiny" in visible_lines(app.scenarios_panel.state)[0])

        (written,) = list((Path(stack.settings.embedded.data_dir) / "reports").glob("tab-tiny-*/report.json"))
        assert progress.written[0] == written
        report = json.loads(written.read_text())
        assert report["target"] == "embedded" and report["outcome"]["verdict"] == "pass"
        assert [step["status"] for step in report["steps"]] == ["done", "done"]
        assert report["audit"]["clean"] and report["totals"]["started"] >= 8 and report["totals"]["lost"] == 0
        # Its orders went through the dashboard's own stack, and showed in its table.
        await wait_until(pilot, lambda: sum(order.startswith("gd-") for order in app.book.orders) >= 8)
        faults = await stack.facade.faults()
        assert all(settings.is_clear for settings in faults.values())
