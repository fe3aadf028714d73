"""A scenario run from the dashboard: what the run reports as it goes, what it runs on, what is refused.

    progress = RunProgress(file, scenario, on_change=panel.progress_changed)
    run = runner(scenario, dashboard_target(stack, settings), progress, file.path)
    report = await run.run()     # in a worker; progress.* follows the run meanwhile

The run drives the dashboard's own stack: its facade, and the embedded servers this stack
started (they may be paused or killed); attached to a cluster, faults and load only. What this
stack cannot do is refused before anything starts, in one line (`refusal`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from engine.config import Settings
from engine.facade import CheckoutFacade
from engine.runtime import EmbeddedServers
from engine.scenarios.model import Scenario, ScenarioFile
from engine.scenarios.plan import PlannedStep, timeline
from engine.scenarios.report import CheckResult, ScenarioReport, WindowFigures
from engine.scenarios.runner import ScenarioObserver, ScenarioRun, ScenarioTarget, refusals
from tui.presets import PRESETS

REPORTS_DIR = "reports"  # under the data dir: <data_dir>/reports/<name>-<time>/


class RunLike(Protocol):
    """What the tab needs of a run (`engine.scenarios.runner.ScenarioRun`; tests hand it a fake)."""

    def run(self) -> Awaitable[ScenarioReport]: ...
    def stop(self) -> None: ...


Runner = Callable[[Scenario, ScenarioTarget, ScenarioObserver, Path], RunLike]


def scenario_runner(scenario: Scenario, target: ScenarioTarget, observer: ScenarioObserver, file: Path) -> RunLike:
    """The real run, its `preset` steps resolved by the dashboard's presets (the same files)."""
    return ScenarioRun(scenario, target, observer, file=file, presets=PRESETS)


@dataclass
class RunProgress:
    """A run as the observer tells it (a `ScenarioObserver`); `on_change` is called after each news.

    Times are the run's own (seconds since its start): `now_s` is the latest one it reported, so
    the timeline's mark moves with the run, not with the wall clock."""

    file: ScenarioFile
    scenario: Scenario
    on_change: Callable[[], None] = lambda: None
    plan: list[PlannedStep] = field(init=False)
    phase_name: str = "starting"
    statuses: dict[int, str] = field(default_factory=dict)
    now_s: float | None = None
    window_figures: WindowFigures | None = None
    check_results: list[CheckResult] = field(default_factory=list)
    faults_in_force: dict[str, dict[str, object]] = field(default_factory=dict)
    stop_asked: bool = False
    report: ScenarioReport | None = None
    written: list[Path] = field(default_factory=list)
    error: str | None = None  # refused, or the run failed: one line

    def __post_init__(self) -> None:
        self.plan = timeline(self.scenario)

    @property
    def finished(self) -> bool:
        return self.report is not None or self.error is not None

    @property
    def current(self) -> list[PlannedStep]:
        return [step for step in self.plan if self.statuses.get(step.index) == "running"]

    def _saw(self, at_s: float) -> None:
        self.now_s = at_s if self.now_s is None else max(self.now_s, at_s)

    # --- ScenarioObserver ---------------------------------------------------------------

    def phase(self, name: str) -> None:
        self.phase_name = name
        self.on_change()

    def step_started(self, step: PlannedStep, at_s: float) -> None:
        self.statuses[step.index] = "running"
        self._saw(at_s)
        self.on_change()

    def step_ended(self, step: PlannedStep, at_s: float, status: str) -> None:
        self.statuses[step.index] = status
        self._saw(at_s)
        self.on_change()

    def window(self, window: WindowFigures) -> None:
        self.window_figures = window
        self._saw(window.end_s)
        self.on_change()

    def checks(self, results: list[CheckResult]) -> None:
        self.check_results = list(results)
        self.on_change()

    def faults(self, faults: dict[str, dict[str, object]]) -> None:
        self.faults_in_force = dict(faults)
        self.on_change()

    # --- the end ------------------------------------------------------------------------

    def ended(self, report: ScenarioReport, written: list[Path]) -> None:
        self.report, self.written = report, written
        self.statuses |= {step.index: step.status for step in report.steps if step.status != "pending"}
        self.check_results = list(report.checks) or self.check_results
        self.phase_name = "done"
        self.on_change()

    def failed(self, line: str) -> None:
        self.error = line
        self.on_change()


class StackLike(Protocol):
    @property
    def runs_worker(self) -> bool: ...


def embedded_servers(stack: object) -> EmbeddedServers | None:
    """The embedded servers the dashboard's stack started (None: it started none)."""
    servers = getattr(stack, "servers", None)
    return servers if isinstance(servers, EmbeddedServers) and servers.started else None


def dashboard_target(stack: StackLike, facade: CheckoutFacade, settings: Settings) -> ScenarioTarget:
    """What a run from the dashboard drives: attached (no worker of its own), faults and load only."""
    attached = not stack.runs_worker
    return ScenarioTarget(
        ops=facade,
        kind="attached" if attached else "embedded",
        faults_enabled=settings.faults_enabled,
        hold_s=settings.saga.hold_seconds,
        servers=None if attached else embedded_servers(stack),
    )


def refusal(scenario: Scenario, target: ScenarioTarget) -> str | None:
    """Why the dashboard cannot run `scenario` on `target` (one line), or None: what this stack
    cannot do (a catalogue of the scenario's own, servers it did not start, a partition), then
    whatever the runner itself refuses (unknown presets, SKUs not in the catalogue...)."""
    if scenario.fault_steps() and not target.faults_enabled:
        return f"faults.enabled is off: {scenario.name} sets faults, and fault injection is refused here"
    if scenario.catalogue is not None:
        return (
            f"{scenario.name} brings its own catalogue (SKUs and stock), which the dashboard's stack does not"
            f" have: run it with `checkout scenario run {scenario.name}`, which starts a stack of its own"
        )
    started = set(target.servers.started) if target.servers is not None else set()
    for step in scenario.server_steps():
        if step.kind == "partition":
            return (
                f"{scenario.name}: a partition needs the TCP proxy in front of a worker, which only the stack of"
                " `checkout scenario run` has"
            )
        server = step.pause or step.kill
        if server not in started:
            why = (
                "this dashboard is attached to a cluster (faults and load only)"
                if target.kind == "attached"
                else f"this dashboard did not start the {server} server (it found one running)"
            )
            return f"{scenario.name}: a {step.kind} of {server} is refused: {why}"
    lines = refusals(
        scenario,
        presets=PRESETS,
        catalogue=target.ops.catalogue,
        faults_enabled=target.faults_enabled,
        servers=target.servers is not None,
        proxy=target.proxy is not None,
    )
    return f"{scenario.name}: {lines[0]}" if lines else None


def report_dir(settings: Settings, name: str, moment: datetime) -> Path:
    """`<data_dir>/reports/<name>-<YYYYmmdd-HHMMSS>/`, with `-2`, `-3`... when that one exists."""
    base = Path(settings.embedded.data_dir) / REPORTS_DIR / f"{name}-{moment:%Y%m%d-%H%M%S}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate
