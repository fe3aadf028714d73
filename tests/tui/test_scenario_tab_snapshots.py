"""Snapshots of the Scenarios tab at 120x40 and 80x24: idle with the list and a timeline, during
a run fed by the scripted observer story (tests/support/fake_scenarios.py), and the verdict.

Paths on screen are relative to a temporary working directory and the clock is fixed, so the
report's directory reads the same every time. Update with `pytest tests/tui --snapshot-update`
after an intended change, and look at the SVGs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.support.dashboard import fake_settings, started, wait_until
from tests.support.fake_facade import FakeFacade, FakeStack
from tests.support.fake_scenarios import ScriptedRuns, write_scenarios
from tui.app import CheckoutApp
from tui.screens.confirm import ConfirmScreen

NOW = datetime(2026, 3, 2, 14, 30, 0, tzinfo=UTC)
WIDE, SMALL = (120, 40), (80, 24)


pytestmark = pytest.mark.usefixtures("steady_cursors")


@pytest.fixture(autouse=True)
def in_a_fresh_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def tab_app(verdict: str = "pass") -> CheckoutApp:
    settings = fake_settings(
        embedded={"mode": "never", "data_dir": "data"}, faults={"enabled": True}, saga={"hold_seconds": 10}
    )
    app = CheckoutApp(FakeStack(settings, FakeFacade(settings, clock=lambda: NOW)), clock=lambda: NOW)
    app.scenario_dirs = [write_scenarios(Path("scenarios"))]
    app.runner = ScriptedRuns(verdict=verdict)
    return app


async def quiet(pilot: Pilot) -> None:
    """No toast over the tab: each is checked by the behaviour tests."""
    pilot.app.clear_notifications()
    await pilot.pause(0.5)  # two redraws of the run's news


async def idle(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, CheckoutApp)
    await started(pilot, app)
    await wait_until(pilot, lambda: len(app.scenarios_panel.files) == 2)
    await pilot.press("G", "down")  # payment-brownout: parallel lanes, an instant, a ramp
    await wait_until(pilot, lambda: app.scenarios_panel.selected and app.scenarios_panel.selected.name[0] == "p")
    await quiet(pilot)


async def running(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, CheckoutApp)
    await started(pilot, app)
    await wait_until(pilot, lambda: len(app.scenarios_panel.files) == 2)
    await pilot.press("G", "enter")  # inventory-outage
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    await wait_until(pilot, lambda: any(b.has_focus for b in app.screen.query("#confirm")))
    await pilot.press("y")
    await wait_until(pilot, lambda: app.scenario_progress is not None and app.scenario_progress.check_results)
    await quiet(pilot)


async def ended(pilot: Pilot) -> None:
    await running(pilot)
    app = pilot.app
    assert isinstance(app, CheckoutApp) and isinstance(app.runner, ScriptedRuns)
    app.runner.release.set()
    await wait_until(pilot, lambda: not app.scenario_running)
    await wait_until(pilot, lambda: list(Path("data/reports").glob("*/report.json")))
    await quiet(pilot)


def test_idle_with_the_list_and_a_timeline_at_120x40(snap_compare) -> None:
    assert snap_compare(tab_app(), terminal_size=WIDE, run_before=idle)


def test_idle_with_the_list_and_a_timeline_at_80x24(snap_compare) -> None:
    assert snap_compare(tab_app(), terminal_size=SMALL, run_before=idle)


def test_during_a_run_at_120x40(snap_compare) -> None:
    assert snap_compare(tab_app(), terminal_size=WIDE, run_before=running)


def test_during_a_run_at_80x24(snap_compare) -> None:
    assert snap_compare(tab_app(), terminal_size=SMALL, run_before=running)


def test_a_failed_verdict_at_120x40(snap_compare) -> None:
    assert snap_compare(tab_app("fail"), terminal_size=WIDE, run_before=ended)


def test_a_passed_verdict_at_80x24(snap_compare) -> None:
    assert snap_compare(tab_app(), terminal_size=SMALL, run_before=ended)
