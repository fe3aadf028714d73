"""Game days from the dashboard: list the scenario files, run one on the dashboard's stack, stop it.

A base of the dashboard App, above the administration (`tui/admin.py`). A run is a write action
(it sets faults and submits orders): read-only refuses it, and it asks first. It runs as an async
worker in the App's loop, so the table, the Detail and manual cancels go on meanwhile; its news
reaches the Scenarios tab through a `RunProgress`, drawn a few times a second. At the end the
report goes into `<data_dir>/reports/<name>-<time>/`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import on, work
from textual.widgets import TabbedContent

from engine.errors import CheckoutError, InvalidInput
from engine.facade import CheckoutFacade
from engine.scenarios.model import SCENARIO_DIR, Scenario, ScenarioFile, load_scenario
from engine.scenarios.plan import timeline as planned_steps
from engine.scenarios.report import write_report
from tui.admin import Administration
from tui.format import one_line
from tui.guard import writes
from tui.messages import ScenarioEnded, ScenarioRunAsked, ScenariosListed, ScenarioStopAsked
from tui.scenario_run import (
    RunLike,
    Runner,
    RunProgress,
    StackLike,
    dashboard_target,
    refusal,
    report_dir,
    scenario_runner,
)
from tui.scenario_view import seconds
from tui.screens.confirm import ConfirmScreen
from tui.widgets.scenarios_panel import ScenariosPanel

QUIT_CLEAR_TIMEOUT = 5.0  # quitting during a run: how long clearing its faults may take


def scan_scenarios(dirs: list[Path]) -> tuple[list[ScenarioFile], dict[Path, Scenario | str]]:
    """Every `*.yaml` in `dirs` by name, each loaded; one that does not load is listed with its line."""
    files: list[ScenarioFile] = []
    loaded: dict[Path, Scenario | str] = {}
    for directory in dirs:
        for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
            try:
                scenario = load_scenario(path)
            except InvalidInput as error:
                files.append(ScenarioFile(path.stem, path, "", 0.0))
                loaded[path] = error.message
                continue
            files.append(ScenarioFile(scenario.name, path, scenario.description, scenario.duration_s))
            loaded[path] = scenario
    return sorted(files, key=lambda file: file.name), loaded


class ScenarioActions(Administration):
    # Set by the dashboard App.
    stack: StackLike
    scenarios_panel: ScenariosPanel

    runner: Runner = staticmethod(scenario_runner)
    """Builds the run (tests put a fake runner here)."""

    def __init__(self) -> None:
        super().__init__()
        self.scenario_dirs = [SCENARIO_DIR, *self.dashboard.scenario_dirs]
        self.scenario_run: RunLike | None = None
        self.scenario_progress: RunProgress | None = None

    @property
    def scenario_names(self) -> list[str]:
        """The scenario files listed in the tab (the palette offers to run each)."""
        return [file.name for file in self.scenarios_panel.files]

    @property
    def scenario_running(self) -> bool:
        return self.scenario_run is not None

    # --- the files --------------------------------------------------------------------------

    def list_scenarios(self) -> None:
        self._list_scenarios()

    @work(thread=True, exclusive=True, group="scenario-files", exit_on_error=False)
    def _list_scenarios(self) -> None:
        self.post_message(ScenariosListed(*scan_scenarios(self.scenario_dirs)))

    @on(ScenariosListed)
    def _scenarios_listed(self, message: ScenariosListed) -> None:
        self.scenarios_panel.show_files(message.files, message.scenarios)

    @on(TabbedContent.TabActivated, "#tabs")
    def _scenarios_tab_shown(self, message: TabbedContent.TabActivated) -> None:
        if message.pane.id == "scenarios":
            self.list_scenarios()  # files may have come or changed since
            return
        self.call_after_refresh(self._focus_off_the_scenarios)

    def _focus_off_the_scenarios(self) -> None:
        """Another tab is shown: the keys go back to the table, not to a hidden button or list of the
        Scenarios tab (Textual then drops the focus, or hands it to the filter's text field)."""
        focused = self.focused
        if self.tabs.active != "scenarios" and (focused is None or self.scenarios_panel in focused.ancestors):
            self.orders_table.focus()

    def action_show_tab(self, tab: str) -> None:
        super().action_show_tab(tab)
        if tab == "scenarios":  # the keyboard goes into the list
            self.call_after_refresh(self._focus_scenarios)

    def _focus_scenarios(self) -> None:
        if self.tabs.active == "scenarios":  # another tab may have been asked for meanwhile
            self.scenarios_panel.focus_list()

    # --- a run ------------------------------------------------------------------------------

    @on(ScenarioRunAsked)
    def _run_asked(self, message: ScenarioRunAsked) -> None:
        self.action_run_scenario(message.name)

    @writes
    def action_run_scenario(self, name: str = "") -> None:
        """Run the scenario `name` (default: the one highlighted in the tab), after asking."""
        panel = self.scenarios_panel
        file = next((f for f in panel.files if f.name == name), None) if name else panel.selected
        if file is None:
            self.say(f"no scenario named {name!r}" if name else "no scenario file to run", severity="warning")
            return
        scenario = panel.scenarios.get(file.path)
        if not isinstance(scenario, Scenario):
            self.say(str(scenario or f"{file.path}: not loaded"), title="Scenario", severity="error")
            return
        if self.scenario_progress is not None and self.scenario_running:
            going = self.scenario_progress.scenario.name
            self.say(f"a run of {going} is going: stop it first (S)", title="Scenario", severity="warning")
            return
        facade = self._need_facade()
        if facade is None:
            return
        target = dashboard_target(self.stack, facade, self.settings)
        why = refusal(scenario, target)
        if why is not None:
            self.say(why, title="Scenario refused", severity="error")
            return

        def answered(yes: bool | None) -> None:
            if yes and not self.scenario_running:
                self._start_run(file, scenario, facade)

        self.push_screen(
            ConfirmScreen(f"Run {scenario.name}?", self._run_question(scenario, target.kind), confirm="Run"), answered
        )

    def _run_question(self, scenario: Scenario, kind: str) -> str:
        steps = len(planned_steps(scenario))
        where = (
            "on this dashboard's stack: its servers, worker and services"
            if kind == "embedded"
            else "on the cluster this dashboard is attached to: faults and load only"
        )
        writes_faults = " It sets faults that every order feels, yours too." if scenario.fault_steps() else ""
        return (
            f"{seconds(scenario.duration_s)} of load and {steps} step(s) {where}.{writes_faults} "
            f"S (or ■ stop) ends it early and clears its faults. The report goes into "
            f"{Path(self.settings.embedded.data_dir) / 'reports'}."
        )

    def _start_run(self, file: ScenarioFile, scenario: Scenario, facade: CheckoutFacade) -> None:
        panel = self.scenarios_panel
        progress = RunProgress(file, scenario, on_change=panel.progress_changed)
        target = dashboard_target(self.stack, facade, self.settings)
        run = self.runner(scenario, target, progress, file.path)
        self.scenario_run, self.scenario_progress = run, progress
        panel.show_run(progress)
        self.action_show_tab("scenarios")
        self.say(f"{scenario.name} started: {seconds(scenario.duration_s)}", title="Scenario")
        self._run_scenario(run, report_dir(self.settings, scenario.name, self.clock()))

    @work(exclusive=True, group="scenario", exit_on_error=False)
    async def _run_scenario(self, run: RunLike, directory: Path) -> None:
        try:
            report = await run.run()
        except CheckoutError as error:  # refused before anything started, or the stack failed under it
            self.post_message(ScenarioEnded(None, [], error.message))
            return
        except Exception as error:  # a run ends in one line, never in a crashed dashboard
            self.post_message(ScenarioEnded(None, [], one_line(f"the run failed: {type(error).__name__}: {error}")))
            return
        try:
            written = await asyncio.to_thread(write_report, directory, report)
        except CheckoutError as error:
            self.post_message(ScenarioEnded(report, [], f"the report was not written: {error.message}"))
            return
        self.post_message(ScenarioEnded(report, written))

    @on(ScenarioEnded)
    def _scenario_ended(self, message: ScenarioEnded) -> None:
        progress = self.scenario_progress
        self.scenario_run = None
        if progress is None:
            return
        if message.report is not None:
            progress.ended(message.report, message.written)
        if message.error is not None:
            progress.failed(message.error)
        self.scenarios_panel.show_run(progress)
        if self.focused is None:
            self.orders_table.focus()
        self.refresh_now()  # the faults it cleared
        name = progress.scenario.name
        if message.report is None:
            self.say(f"{name}: {message.error}", title="Scenario", severity="error")
            return
        verdict = message.report.outcome.verdict
        where = f"; report in {message.written[0].parent}" if message.written else f"; {message.error}"
        self.say(
            f"{name}: {verdict.upper()}{where}",
            title="Scenario",
            severity="information" if verdict == "pass" else "error",
        )

    @on(ScenarioStopAsked)
    def _stop_asked(self) -> None:
        self.action_stop_scenario()

    @writes
    def action_stop_scenario(self) -> None:
        """End the run early, as Ctrl-C does `checkout scenario run` (asks first)."""
        progress, run = self.scenario_progress, self.scenario_run
        if run is None or progress is None:
            self.say("no scenario run is going", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes and self.scenario_run is run:
                progress.stop_asked = True
                run.stop()
                progress.on_change()

        body = (
            "Every fault it set is cleared and no more orders start; the orders in flight still end, "
            "then the audit runs and the verdict says stopped."
        )
        self.push_screen(ConfirmScreen(f"Stop {progress.scenario.name}?", body, confirm="Stop"), answered)

    def abandon_scenario(self) -> bool:
        """Quitting during a run: it stops at once; whether faults it set are to be cleared on the way out."""
        run, progress = self.scenario_run, self.scenario_progress
        if run is None or progress is None:
            return False
        run.stop()
        return progress.scenario.fault_steps() and self.facade is not None

    async def clear_scenario_faults(self) -> None:
        """On the way out after `abandon_scenario`: clear every fault, bounded (the servers may be gone)."""
        if self.facade is None:
            return
        try:
            async with asyncio.timeout(QUIT_CLEAR_TIMEOUT):
                await self.facade.clear_faults()
        except (CheckoutError, TimeoutError) as error:
            self.log.error(f"clearing the scenario's faults on quit: {error!r}")
