"""The Scenarios tab over the fake stack, with a scripted run (tests/support/fake_scenarios.py).

The tab lists the files, starts a run after asking and stops one, refuses what it must, keeps
the rest of the dashboard working during a run, and writes the report into the data dir.
The run itself over the real servers is in test_scenario_tab_stack.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot

from engine.models import FaultSettings, OrderInput, OrderStatus, ServiceName
from engine.scenarios.model import SkuShare, load_scenario
from engine.scenarios.plan import timeline
from tests.support.dashboard import fake_settings, started, visible_lines, wait_until
from tests.support.fake_facade import FakeFacade, FakeStack
from tests.support.fake_scenarios import OUTAGE, ScriptedRuns, write_scenarios
from tui.app import CheckoutApp
from tui.commands import palette_commands
from tui.guard import READ_ONLY_LINE
from tui.scenario_actions import scan_scenarios
from tui.scenario_run import RunProgress, refusal
from tui.scenario_view import load_levels
from tui.scenario_view import timeline as draw_timeline
from tui.screens.confirm import ConfirmScreen

SIZE = (120, 40)


def scenario_app(tmp_path: Path, *, read_only: bool = False, **settings: object) -> tuple[CheckoutApp, ScriptedRuns]:
    values: dict[str, object] = {
        "embedded": {"mode": "never", "data_dir": str(tmp_path / "data")},
        "faults": {"enabled": True},
        "dashboard": {"replay_hours": 1, "read_only": read_only},
        **settings,
    }
    config = fake_settings(**values)
    app = CheckoutApp(FakeStack(config, FakeFacade(config, step_seconds=0.01)))
    app.scenario_dirs = [write_scenarios(tmp_path / "scenarios")]
    runs = ScriptedRuns()
    app.runner = runs
    return app, runs


async def in_the_tab(pilot: Pilot, app: CheckoutApp) -> None:
    await started(pilot, app)
    await wait_until(pilot, lambda: len(app.scenarios_panel.files) == 2, what="the files listed")
    await pilot.press("G")
    await wait_until(pilot, lambda: app.tabs.active == "scenarios" and app.focused is app.scenarios_panel.list)


def tab_text(app: CheckoutApp) -> str:
    """The tab's state line as shown, and its whole view (scrolled or not) rendered 300 columns wide."""
    panel = app.scenarios_panel
    return "\n".join(visible_lines(panel.state) + plain_lines(panel.view.renderable, 300))


async def confirm(pilot: Pilot, app: CheckoutApp) -> None:
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
    await wait_until(pilot, lambda: any(b.has_focus for b in app.screen.query("#confirm")), what="its keys")
    await pilot.press("y")
    await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))


async def test_the_tab_lists_the_files_and_shows_the_highlighted_plan(tmp_path: Path) -> None:
    app, runs = scenario_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await in_the_tab(pilot, app)
        assert [file.name for file in app.scenarios_panel.files] == ["inventory-outage", "payment-brownout"]
        await pilot.press("down")
        await wait_until(pilot, lambda: "slow payments" in tab_text(app), what="the brownout's plan")
        text = tab_text(app)
        for expected in ("payment: latency 2500±500 ms for 30 s", "nats-server SIGSTOPped", "hypothesis:", "1m30s"):
            assert expected in text
        assert runs.runs == []  # highlighting runs nothing


async def test_a_run_asks_first_goes_on_beside_the_table_and_ends_with_the_verdict_and_report(tmp_path: Path) -> None:
    app, runs = scenario_app(tmp_path, saga={"hold_seconds": 30})
    async with app.run_test(size=SIZE) as pilot:
        await in_the_tab(pilot, app)
        await pilot.press("enter")  # inventory-outage
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert runs.runs == []  # not before the answer
        await confirm(pilot, app)
        await wait_until(pilot, lambda: runs.runs and runs.runs[0].ran, what="the run started")
        run = runs.runs[0]
        assert run.target.kind == "embedded" and run.target.faults_enabled and run.target.servers is None
        await wait_until(pilot, lambda: "now: inventory down" in tab_text(app), what="the current step")
        text = tab_text(app)
        assert "faults in force: inventory: down" in text and "✔ lost_orders == 0" in text
        assert app.focused is app.scenarios_panel.query_one("#scenario-stop")

        # The rest of the dashboard keeps working: an order submitted and cancelled meanwhile.
        order = OrderInput.model_validate(
            {
                "order_id": "during-run",
                "customer_id": "cust-1",
                "items": [{"sku": "golang-book", "quantity": 1, "unit_price_cents": 3999}],
            }
        )
        await app.submit(order)
        await wait_until(
            pilot, lambda: "during-run" in app.book.orders and app.book.orders["during-run"].step == "hold"
        )
        app.show_order("during-run")
        await wait_until(pilot, lambda: app.selected_order == "during-run")
        await wait_until(pilot, lambda: app.focused is app.orders_table, what="the keys back in the table")
        await pilot.press("c")
        await confirm(pilot, app)
        await wait_until(
            pilot, lambda: app.book.orders["during-run"].status is OrderStatus.COMPENSATED, what="cancelled"
        )
        assert app.scenario_running

        runs.release.set()
        await wait_until(pilot, lambda: not app.scenario_running, what="the run's end")
        assert app.focused is app.orders_table  # not the filter's field: keys do not type there
        await pilot.press("G")
        await wait_until(pilot, lambda: "PASS" in tab_text(app), what="the verdict")
        report_dir = tmp_path / "data" / "reports"
        (written,) = list(report_dir.glob("inventory-outage-*/report.json"))
        assert f"report: {written}" in tab_text(app)
        data = json.loads(written.read_text())
        assert data["outcome"]["verdict"] == "pass" and data["scenario"]["name"] == "inventory-outage"
        assert any("PASS" in message for _, _, message in app.notices)


async def test_stop_asks_then_stops_the_run_and_the_verdict_says_stopped(tmp_path: Path) -> None:
    app, runs = scenario_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await in_the_tab(pilot, app)
        await pilot.press("enter")
        await confirm(pilot, app)
        await wait_until(pilot, lambda: runs.runs and runs.runs[0].ran)
        await pilot.press("S")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert not runs.runs[0].stopped.is_set()
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.scenario_running, what="stopped")
        await wait_until(pilot, lambda: "STOPPED" in tab_text(app))
        assert "stopped at 30s" in tab_text(app)
        (written,) = list((tmp_path / "data" / "reports").glob("*/report.json"))
        assert json.loads(written.read_text())["outcome"]["verdict"] == "stopped"
        await pilot.press("S")  # nothing goes: says so
        await wait_until(pilot, lambda: any("no scenario run" in m for _, _, m in app.notices))


async def test_read_only_shows_the_plans_and_refuses_a_run(tmp_path: Path) -> None:
    app, runs = scenario_app(tmp_path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await in_the_tab(pilot, app)
        assert not app.scenarios_panel.query("#scenario-run")
        assert "read-only: scenarios are shown, not run" in tab_text(app)
        await pilot.press("enter")
        app.action_run_scenario("inventory-outage")  # as a message that slipped through would
        await pilot.pause(0.2)
        assert runs.runs == [] and not isinstance(app.screen, ConfirmScreen)
        assert any(message == READ_ONLY_LINE for _, _, message in app.notices)
        titles = [command.title for command in palette_commands(app)]
        assert "Show scenarios" in titles and not any(title.startswith("Run scenario") for title in titles)


async def test_fault_steps_are_refused_where_fault_injection_is_off(tmp_path: Path) -> None:
    app, runs = scenario_app(tmp_path, faults={"enabled": False})
    async with app.run_test(size=SIZE) as pilot:
        await in_the_tab(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("faults.enabled is off" in m for _, _, m in app.notices))
        assert runs.runs == [] and not isinstance(app.screen, ConfirmScreen)


async def test_a_pause_is_refused_on_a_stack_that_started_no_server(tmp_path: Path) -> None:
    app, runs = scenario_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await in_the_tab(pilot, app)
        app.action_run_scenario("payment-brownout")
        await pilot.pause(0.2)
        line = "payment-brownout: a pause of nats is refused: this dashboard did not start the nats server"
        assert any(message.startswith(line) for _, _, message in app.notices)
        assert runs.runs == []


async def test_quitting_during_a_run_stops_it_and_clears_every_fault(tmp_path: Path) -> None:
    app, runs = scenario_app(tmp_path)
    facade = app.stack.facade
    assert isinstance(facade, FakeFacade)
    async with app.run_test(size=SIZE) as pilot:
        await in_the_tab(pilot, app)
        app.action_run_scenario("inventory-outage")
        await confirm(pilot, app)
        await wait_until(pilot, lambda: runs.runs and runs.runs[0].ran)
        await facade.set_faults(ServiceName.INVENTORY, FaultSettings(down=True))  # as the run would
        await app.quit_now()
        await wait_until(pilot, lambda: facade._faults.get(ServiceName.INVENTORY, FaultSettings()).is_clear)
    assert runs.runs[0].stopped.is_set()


async def test_the_palette_offers_each_scenario_and_the_help_names_the_tab(tmp_path: Path) -> None:
    app, _runs = scenario_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await in_the_tab(pilot, app)
        titles = [command.title for command in palette_commands(app)]
        assert "Run scenario inventory-outage" in titles and "Run scenario payment-brownout" in titles
        keys = {binding_id: key for key, _, _, binding_id in app.key_help()}
        assert keys["tab_scenarios"] == "G" and keys["stop_scenario"] == "S"


def test_a_file_that_does_not_load_is_listed_with_its_line(tmp_path: Path) -> None:
    directory = write_scenarios(tmp_path, {"good": OUTAGE, "bad": OUTAGE.replace("rate: 3", "rate: fast")})
    files, loaded = scan_scenarios([directory, tmp_path / "missing"])
    assert [file.name for file in files] == ["bad", "inventory-outage"]
    line = loaded[directory / "bad.yaml"]
    assert isinstance(line, str) and "bad.yaml:6: load.phases.0.rate" in line


def test_refusals_name_the_step_and_why(tmp_path: Path) -> None:
    from engine.scenarios.runner import ScenarioTarget

    directory = write_scenarios(tmp_path)
    brownout = load_scenario(directory / "payment-brownout.yaml")
    outage = load_scenario(directory / "inventory-outage.yaml")
    facade = FakeFacade(fake_settings())
    attached = ScenarioTarget(ops=facade, kind="attached", faults_enabled=True)
    assert refusal(outage, attached) is None
    assert refusal(brownout, attached) == (
        "payment-brownout: a pause of nats is refused: this dashboard is attached to a cluster (faults and load only)"
    )
    shipped = load_scenario(Path("configs/scenarios/black-friday.yaml"))  # SKUs and stock of its own
    why = refusal(shipped, ScenarioTarget(ops=facade, kind="embedded", faults_enabled=True))
    assert why is not None and why.startswith("black-friday brings its own catalogue (SKUs and stock)")
    unknown = outage.model_copy(update={"load": outage.load.model_copy(update={"mix": [SkuShare(sku="nope")]})})
    assert refusal(unknown, attached) == (
        f"inventory-outage: load.mix: SKU 'nope' is not in the catalogue ({', '.join(sorted(facade.catalogue))})"
    )
    off = ScenarioTarget(ops=facade, kind="embedded", faults_enabled=False)
    assert refusal(outage, off) == (
        "faults.enabled is off: inventory-outage sets faults, and fault injection is refused here"
    )


# --- drawing the timeline -------------------------------------------------------------------------


def plain_lines(renderable: object, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


def test_the_timeline_puts_steps_on_lanes_at_their_times(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenarios(tmp_path) / "payment-brownout.yaml")
    plan = timeline(scenario)
    lines = plain_lines(draw_timeline(plan, scenario.duration_s, 127, load=scenario.load), 127)
    # 120 columns for 120 s after the 6-column gutter: about one column per second.
    lane0, lane1 = lines[1], lines[2]
    assert lane0.index("slow payments") == 6 + round(20 / 120 * 119)
    assert lane0.index("payments recover") == 6 + round(50 / 120 * 119)
    assert lane0.index("◆all clear") == 6 + round(90 / 120 * 119)
    assert lane1.index("nat…") == 6 + round(30 / 120 * 119)  # beside the slow payments: a lane of its own
    assert lines[3].split() == ["0s", "10s", "20s", "30s", "40s", "50s", "1m", *(f"1m{n}0s" for n in range(1, 6)), "2m"]


def test_a_run_marks_its_current_second_and_step(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenarios(tmp_path) / "inventory-outage.yaml")
    plan = timeline(scenario)
    progress = RunProgress(file=scan_scenarios([tmp_path])[0][0], scenario=scenario)
    progress.step_started(plan[0], 10.0)
    group = draw_timeline(plan, scenario.duration_s, 66, statuses=progress.statuses, now_s=24.0)
    lines = plain_lines(group, 66)
    assert lines[1].index("▲ 24s") == 6 + round(24 / 60 * 58)  # 59 columns after the gutter
    assert "▶" in lines[-1] and "inventory down" in lines[-1]
    assert [step.name for step in progress.current] == ["inventory down"]


def test_the_load_row_climbs_along_a_ramp(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenarios(tmp_path) / "payment-brownout.yaml")
    levels = load_levels(scenario.load, scenario.duration_s, 121)  # one column a second
    assert levels[0] == pytest.approx(0.0)
    assert levels[10] == pytest.approx(2.5)
    assert levels[50] == pytest.approx(5.0)
    assert levels[110] == pytest.approx(2.0)
