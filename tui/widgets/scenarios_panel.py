"""The Scenarios tab (game days): the scenario files, the selected plan as a timeline, and a run.

A bar of buttons (run, stop) beside one line saying what goes on; the list of files (name,
duration); and a view of the highlighted file: its description, its plan as a timeline with the
load above the steps, its checks. While a run goes (or after it), the view shows that run: the
current step highlighted on the timeline, the checks live, the faults in force, the last
window's figures, and at the end the verdict and where the report was written. The list sits
beside the view where the panel is wide enough, above it otherwise (and goes while a run goes
there, to give the run the room).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from engine.scenarios.model import Scenario, ScenarioFile
from engine.scenarios.plan import timeline as planned_steps
from tui.messages import ScenarioRunAsked, ScenarioStopAsked
from tui.scenario_run import RunProgress
from tui.scenario_view import checks_table, faults_line, seconds, timeline, verdict_lines, window_line
from tui.widgets.rich_view import RichView

REDRAW_SECONDS = 0.25  # a run's news is drawn at most this often


class _ForWidth:
    """A renderable built for the width it is given (the timeline's columns follow it)."""

    def __init__(self, build: Callable[[int], RenderableType]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(options.max_width)


class ScenariosPanel(Vertical):
    DEFAULT_CSS = """
    ScenariosPanel { height: 1fr; padding: 0 1; }
    ScenariosPanel #scenario-bar { height: 1; width: 1fr; }
    ScenariosPanel #scenario-bar > Button { margin-right: 1; width: auto; min-width: 8; }
    ScenariosPanel #scenario-bar > Button:focus { text-style: bold reverse; }
    ScenariosPanel #scenario-state { width: 1fr; height: 1; }
    ScenariosPanel #scenario-body { height: 1fr; }
    ScenariosPanel #scenario-list { height: auto; max-height: 4; border: none; padding: 0; }
    ScenariosPanel #scenario-view { height: 1fr; }
    ScenariosPanel.-side #scenario-body { layout: horizontal; }
    ScenariosPanel.-side #scenario-list {
        width: 30; height: 1fr; max-height: 100%; margin-right: 1; border-right: vkey $panel;
    }
    ScenariosPanel.-run-going.-stacked #scenario-list { display: none; }
    """
    SIDE_BY_SIDE = 100  # columns from which the list sits beside the view

    def __init__(self, *, read_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.read_only = read_only  # the files and plans are shown; no run is offered
        self.files: list[ScenarioFile] = []
        self.scenarios: dict[Path, Scenario | str] = {}  # each file's scenario, or why it does not load
        self.progress: RunProgress | None = None  # the run going, or the last one
        self._dirty = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="scenario-bar"):
            if not self.read_only:
                yield Button("▶ run", id="scenario-run", compact=True, variant="warning", tooltip="asks first")
                yield Button("■ stop", id="scenario-stop", compact=True, variant="error", disabled=True)
            yield Static("", id="scenario-state")
        with Container(id="scenario-body"):
            yield OptionList(id="scenario-list", compact=True)
            yield RichView(id="scenario-view")

    def on_mount(self) -> None:
        self.list = self.query_one("#scenario-list", OptionList)
        self.view = self.query_one("#scenario-view", RichView)
        self.state = self.query_one("#scenario-state", Static)
        self.set_interval(REDRAW_SECONDS, self._redraw_if_changed)
        self._show_state()

    def on_resize(self) -> None:
        side = self.size.width >= self.SIDE_BY_SIDE
        self.set_class(side, "-side")
        self.set_class(not side, "-stacked")

    # --- what the app pushes here ----------------------------------------------------------

    def show_files(self, files: list[ScenarioFile], scenarios: dict[Path, Scenario | str]) -> None:
        """The scenario files found (each loaded, or the line why not); keeps the highlighted one."""
        chosen = self.selected
        self.files, self.scenarios = list(files), dict(scenarios)
        self.list.clear_options()
        self.list.add_options(
            Option(Text.assemble((file.name, "bold"), "  ", (seconds(file.duration_s), "dim")), id=str(file.path))
            for file in self.files
        )
        if self.files:
            paths = [file.path for file in self.files]
            self.list.highlighted = paths.index(chosen.path) if chosen and chosen.path in paths else 0
        self._redraw()

    def show_run(self, progress: RunProgress) -> None:
        """A run starts: the view follows it (`progress_changed` marks it for a redraw)."""
        self.progress = progress
        self._redraw()

    def progress_changed(self) -> None:
        self._dirty = True

    @property
    def selected(self) -> ScenarioFile | None:
        index = self.list.highlighted if self.is_mounted else None
        return self.files[index] if index is not None and 0 <= index < len(self.files) else None

    @property
    def running(self) -> bool:
        return self.progress is not None and not self.progress.finished

    def focus_list(self) -> None:
        """Into the tab: the list, or the stop button while a run hides the list."""
        if self.running and not self.read_only:
            self.query_one("#scenario-stop", Button).focus()
        else:
            self.list.focus()

    # --- drawing ---------------------------------------------------------------------

    def _redraw_if_changed(self) -> None:
        if self._dirty:
            self._redraw()

    def _redraw(self) -> None:
        self._dirty = False
        self._show_state()
        shown = self._run_shown()
        self.set_class(self.running, "-run-going")
        if not self.read_only:
            self._move_focus_off_what_goes()
            self.query_one("#scenario-run", Button).disabled = self.running or self.selected is None
            self.query_one("#scenario-stop", Button).disabled = not self.running
        self.view.update(self._view(shown))

    def _move_focus_off_what_goes(self) -> None:
        """A focused widget that is disabled or hidden hands the focus to the next one, the filter's
        text field, where keys would type: inside the tab the focus goes to the stop button while a run
        goes, to the list after; off the stop button of a tab not shown, nowhere (the App's keys work
        again, and the App puts it back in the table)."""
        focused = self.screen.focused if self.is_attached else None
        if focused is None or self not in focused.ancestors:
            return
        stop = self.query_one("#scenario-stop", Button)
        target = stop if self.running else self.list
        if self.is_on_screen:
            if focused is not target:
                target.focus()
        elif focused is stop and not self.running:
            self.screen.set_focus(None)  # about to be disabled, in a tab not shown

    def _run_shown(self) -> RunProgress | None:
        """The run to show: the one going, or the last one while its file is highlighted."""
        progress, selected = self.progress, self.selected
        if progress is None:
            return None
        if not progress.finished or (selected is not None and selected.path == progress.file.path):
            return progress
        return None

    def _show_state(self) -> None:
        self.state.update(self._state_line())

    def _state_line(self) -> Text:
        progress = self.progress
        if progress is not None and not progress.finished:
            name = progress.scenario.name
            if progress.stop_asked:
                return Text(f"■ {name}: stopping: faults cleared, no new orders, orders in flight end…", style="yellow")
            at = f" · {seconds(progress.now_s)} of {seconds(progress.scenario.duration_s)}" if progress.now_s else ""
            current = ", ".join(step.name for step in progress.current)
            now = f" · now: {current}" if current else ""
            return Text.assemble(("▶ ", "bold yellow"), (name, "bold"), f": {progress.phase_name}{at}{now}")
        if progress is not None and progress.error is not None:
            return Text(f"✘ {progress.scenario.name}: {progress.error}", style="bold red")
        if progress is not None and progress.report is not None:
            verdict = progress.report.outcome.verdict
            where = f" · report in {progress.written[0].parent}" if progress.written else ""
            return Text.assemble(
                (f"{verdict.upper()} ", "bold green" if verdict == "pass" else "bold red"),
                progress.scenario.name,
                (where, "dim"),
            )
        if not self.files:
            return Text("no scenario files found (configs/scenarios/*.yaml)", style="dim")
        if self.read_only:
            return Text("read-only: scenarios are shown, not run", style="yellow")
        return Text("Enter runs the highlighted scenario (asks first)", style="dim")

    def _view(self, shown: RunProgress | None) -> RenderableType:
        if shown is not None:
            return _ForWidth(lambda width: self._run_view(shown, width))
        selected = self.selected
        if selected is None:
            return Text("")
        scenario = self.scenarios.get(selected.path)
        if not isinstance(scenario, Scenario):
            return Text(str(scenario or "not loaded"), style="bold red")
        return _ForWidth(lambda width: self._plan_view(selected, scenario, width))

    @staticmethod
    def _plan_view(file: ScenarioFile, scenario: Scenario, width: int) -> RenderableType:
        head = Text.assemble(
            (scenario.name, "bold"), (f"  {seconds(scenario.duration_s)} · seed {scenario.seed}", "dim")
        )
        parts: list[RenderableType] = [head]
        if scenario.description:
            parts.append(Text(scenario.description, style="italic"))
        parts.append(timeline(planned_steps(scenario), scenario.duration_s, width, load=scenario.load))
        if scenario.hypothesis:
            parts.append(Text.assemble(("hypothesis: ", "bold"), "; ".join(scenario.hypothesis)))
        if scenario.abort_when:
            parts.append(Text.assemble(("abort when: ", "bold"), "; ".join(scenario.abort_when)))
        parts.append(Text(str(file.path), style="dim"))
        return Group(*parts)

    @staticmethod
    def _run_view(progress: RunProgress, width: int) -> RenderableType:
        scenario = progress.scenario
        parts: list[RenderableType] = []
        if progress.report is not None:
            parts.append(verdict_lines(progress.report, progress.written))
        if progress.error is not None:
            parts.append(Text(progress.error, style="bold red"))
        now = None if progress.finished else progress.now_s
        parts.append(
            timeline(
                progress.plan, scenario.duration_s, width, load=scenario.load, statuses=progress.statuses, now_s=now
            )
        )
        parts.append(checks_table(progress.check_results, final=progress.report is not None))
        parts.append(faults_line(progress.faults_in_force))
        parts.append(window_line(progress.window_figures))
        return Group(*parts)

    # --- the operator -----------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#scenario-list")
    def _highlighted(self) -> None:
        self._redraw()

    @on(OptionList.OptionSelected, "#scenario-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if not self.read_only and self.selected is not None:
            self.post_message(ScenarioRunAsked(self.selected.name))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "scenario-run" and self.selected is not None:
            self.post_message(ScenarioRunAsked(self.selected.name))
        elif event.button.id == "scenario-stop":
            self.post_message(ScenarioStopAsked())
