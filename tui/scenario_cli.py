"""`checkout scenario list|show|run`: game days from the command line.

`run` starts a stack of its own (servers, workers, services on free ports in a fresh
directory) unless `--attach`, shows the run live on a terminal (stderr: `--json > file`
still shows it), then the verdict table and the audit. Exit 0 when the hypothesis holds,
1 when it does not (or the run was aborted or stopped), 2 for a bad file. The first Ctrl-C
(or SIGTERM) ends the run as an abort does: every fault cleared, no more orders, the orders
in flight end, the verdict printed; a second one stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from engine.config import Settings
from engine.connect import connect
from engine.errors import InvalidInput
from engine.scenarios.embedded import embedded_target
from engine.scenarios.model import Scenario, find_scenarios, load_presets, load_scenario, resolve_scenario
from engine.scenarios.plan import PlannedStep, timeline
from engine.scenarios.report import CheckResult, ScenarioReport, WindowFigures, html_renderer_available, write_report
from engine.scenarios.runner import ScenarioRun, ScenarioTarget, refusals
from tui import printing
from tui.config import CHECKOUT_COMMAND

EXIT_FAILED = 1


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    scenario = commands.add_parser("scenario", help="game days: timed faults with load, checks and a verdict")
    scenario.add_argument("action", choices=["list", "show", "run"])
    scenario.add_argument("target", nargs="?", metavar="NAME|FILE", help="a name in configs/scenarios, or a file")
    scenario.add_argument("--json", action="store_true", help="print JSON (run: the report) instead of tables")
    scenario.add_argument("--report", metavar="DIR", help="run: write report.json (and report.html) there")
    scenario.add_argument("--attach", action="store_true", help="run against the configured cluster: faults, load")
    scenario.add_argument("--force", action="store_true", help="with --attach: start although faults are set")


async def run_scenario_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "list":
        if args.target:
            raise InvalidInput("`scenario list` takes no NAME")
        return _list(args.json)
    if not args.target:
        raise InvalidInput(f"`scenario {args.action}` needs a NAME or a FILE (see `checkout scenario list`)")
    path = resolve_scenario(args.target)
    scenario = load_scenario(path)
    if args.action == "show":
        return _show(scenario, path, args.json)
    if (args.attach or args.force) and args.action != "run":
        raise InvalidInput("--attach and --force go with `scenario run`")
    if args.force and not args.attach:
        raise InvalidInput("--force goes with --attach (a stack of the run's own has no faults set)")
    return await _run(settings, scenario, path, args)


# --- list and show --------------------------------------------------------------------------


def _list(as_json: bool) -> int:
    files = find_scenarios()
    if as_json:
        rows = [
            {"name": f.name, "description": f.description, "duration_s": f.duration_s, "file": str(f.path)}
            for f in files
        ]
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "duration", "description"):
        table.add_column(column, no_wrap=column != "description", justify="right" if column == "duration" else "left")
    for file in files:
        table.add_row(file.name, _duration(file.duration_s), escape(file.description))
    printing.console.print(table)
    return 0


def _show(scenario: Scenario, path: Path, as_json: bool) -> int:
    plan = timeline(scenario)
    if as_json:
        print(
            json.dumps({"scenario": scenario.model_dump(mode="json"), "plan": [vars(step) for step in plan]}, indent=2)
        )
        return 0
    console = printing.console
    console.print(f"[bold]{escape(scenario.name)}[/]  {_duration(scenario.duration_s)}  [dim]{escape(str(path))}[/]")
    if scenario.description:
        console.print(escape(scenario.description))
    console.print(f"load: {escape(_load_line(scenario))}")
    console.print(timeline_table(plan, scenario.duration_s))
    for kind, checks in (("hypothesis", scenario.hypothesis), ("abort when", scenario.abort_when)):
        if checks:
            console.print(f"{kind}: " + ", ".join(f"[bold]{escape(c)}[/]" for c in checks))
    return 0


def _load_line(scenario: Scenario) -> str:
    parts = []
    for phase in scenario.load.phases:
        unit = "/s" if phase.mode == "rate" else " in flight"
        how = "ramp to" if phase.ramp else ""
        parts.append(f"{how} {phase.level:g}{unit} for {phase.for_s:g} s".strip())
    cancel = scenario.load.cancel
    if cancel.share:
        parts.append(f"{cancel.share:.0%} cancelled ({cancel.when.value})")
    return ", then ".join(parts[: len(scenario.load.phases)]) + "".join(
        f"; {p}" for p in parts[len(scenario.load.phases) :]
    )


def timeline_table(plan: list[PlannedStep], duration_s: float, width: int | None = None) -> Table:
    """Each step on its row: its times, a bar over the run's length, what it does."""
    if width is None:
        width = max(10, min(40, printing.console.width - 90))
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("start", justify="right")
    table.add_column("end", justify="right")
    table.add_column("timeline", no_wrap=True)
    table.add_column("step", no_wrap=True, max_width=24)
    table.add_column("what", min_width=30)
    scale = width / max(duration_s, 1e-9)
    for step in plan:
        begin = min(width - 1, int(step.start_s * scale))
        end = begin + 1 if step.end_s is None else max(begin + 1, min(width, int(round(step.end_s * scale))))
        bar = "·" * begin + ("█" * (end - begin)) + "·" * (width - end)
        table.add_row(
            f"{step.start_s:g}s",
            "" if step.end_s is None else f"{step.end_s:g}s",
            bar,
            escape(step.name) + (f" [dim](lane {step.lane})[/]" if step.lane else ""),
            escape(step.detail),
        )
    return table


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


# --- run ----------------------------------------------------------------------------------


async def _run(settings: Settings, scenario: Scenario, path: Path, args: argparse.Namespace) -> int:
    report_dir = Path(args.report) if args.report else None
    if report_dir is not None and report_dir.exists() and not report_dir.is_dir():
        raise InvalidInput(f"--report {report_dir}: not a directory")
    presets = load_presets()
    refused = refusals(
        scenario,
        presets=presets,
        catalogue=scenario.catalogue if scenario.catalogue is not None and not args.attach else settings.catalogue,
        faults_enabled=settings.faults_enabled,
        servers=not args.attach,
        proxy=not args.attach,
    )
    if refused:  # before anything starts
        raise InvalidInput(("--attach: " if args.attach else "") + refused[0])
    err = Console(stderr=True, highlight=False)
    live = err.is_terminal
    async with _target(settings, scenario, args, err) as target:
        display = LiveDisplay(scenario, err, live=live)
        run = ScenarioRun(scenario, target, display, file=path, presets=presets)
        refused = run.refusals()
        if refused:
            raise InvalidInput(refused[0])
        with _stop_on_signals(run), display.shown():
            report = await run.run()
    written = write_report(report_dir, report) if report_dir is not None else []
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_verdict(report)
    for file in written:
        printing.console.print(f"[dim]written: {escape(str(file))}[/]")
    if report_dir is not None and not html_renderer_available():
        printing.console.print("[dim]report.html: the HTML renderer is not installed here; report.json only[/]")
    return 0 if report.passed else EXIT_FAILED


@contextlib.asynccontextmanager
async def _target(
    settings: Settings, scenario: Scenario, args: argparse.Namespace, err: Console
) -> AsyncIterator[ScenarioTarget]:
    if not args.attach:
        err.print(f"[dim]starting a stack of its own for {escape(scenario.name)}…[/]")
        async with embedded_target(scenario, settings, worker_command=CHECKOUT_COMMAND) as target:
            yield target
        return
    async with connect(settings, name="checkout-scenario") as ops:
        if scenario.fault_steps() and not args.force:
            faults = await ops.faults()
            injected = sorted(service.value for service, fault in faults.items() if not fault.is_clear)
            if injected:
                raise InvalidInput(
                    f"--attach: faults are already set on {', '.join(injected)} (someone else's?):"
                    " clear them, or run with --force"
                )
        yield ScenarioTarget(
            ops=ops, kind="attached", faults_enabled=settings.faults_enabled, hold_s=settings.saga.hold_seconds
        )


@contextlib.contextmanager
def _stop_on_signals(run: ScenarioRun) -> Iterator[None]:
    """The first SIGINT or SIGTERM stops the run gracefully; a second one cancels it at once."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    signals = (signal.SIGINT, signal.SIGTERM)
    asked = 0

    def on_signal() -> None:
        nonlocal asked
        asked += 1
        if asked == 1:
            run.stop()
        elif main is not None:
            main.cancel()

    for number in signals:
        loop.add_signal_handler(number, on_signal)
    try:
        yield
    finally:
        for number in signals:
            loop.remove_signal_handler(number)


# --- the live display -------------------------------------------------------------------------


class LiveDisplay:
    """The run's observer: on a terminal a live panel (phase, steps, load, checks, faults);
    elsewhere a line per phase and per step."""

    def __init__(self, scenario: Scenario, console: Console, *, live: bool) -> None:
        self.scenario = scenario
        self.console = console
        self.is_live = live
        self.plan = timeline(scenario)
        self._phase = "starting"
        self._status: dict[int, str] = {}
        self._window: WindowFigures | None = None
        self._closed: list[WindowFigures] = []
        self._checks: list[CheckResult] = []
        self._faults: dict[str, dict[str, object]] = {}
        self._live: Live | None = None
        self._elapsed = 0.0

    @contextlib.contextmanager
    def shown(self) -> Iterator[None]:
        if not self.is_live:
            yield
            return
        with Live(self, console=self.console, refresh_per_second=4, transient=True) as live:
            self._live = live
            yield
        self._live = None

    def _say(self, line: str) -> None:
        if not self.is_live:
            self.console.print(line)

    def phase(self, name: str) -> None:
        self._phase = name
        self._say(f"[bold]{escape(name)}[/]")

    def step_started(self, step: PlannedStep, at_s: float) -> None:
        self._status[step.index] = "running"
        self._elapsed = max(self._elapsed, at_s)
        self._say(f"{at_s:7.1f}s  {escape(step.name)}: {escape(step.detail)}")

    def step_ended(self, step: PlannedStep, at_s: float, status: str) -> None:
        self._status[step.index] = status
        self._elapsed = max(self._elapsed, at_s)
        self._say(f"{at_s:7.1f}s  {escape(step.name)}: {status}")

    def window(self, window: WindowFigures) -> None:
        self._window = window
        self._elapsed = max(self._elapsed, window.end_s)
        if not window.partial:
            self._closed.append(window)

    def checks(self, results: list[CheckResult]) -> None:
        self._checks = results

    def faults(self, faults: dict[str, dict[str, object]]) -> None:
        self._faults = faults
        if not self.is_live:
            shown = "; ".join(f"{name}: {_settings_line(values)}" for name, values in faults.items()) or "none"
            self.console.print(f"         faults in force: {escape(shown)}")

    def __rich__(self) -> Group:
        head = Text.assemble(
            (f"{self.scenario.name}", "bold"),
            f"  {self._phase}  {self._elapsed:5.0f}s / {self.scenario.duration_s:g}s",
        )
        steps = Table(box=None, pad_edge=False, show_header=False)
        for step in self.plan:
            status = self._status.get(step.index, "pending")
            style = {"running": "bold yellow", "done": "green", "refused": "red", "cancelled": "red"}.get(status, "dim")
            steps.add_row(f"{step.start_s:6.1f}s", Text(status, style=style), escape(step.name), escape(step.detail))
        parts: list[object] = [head, steps, Text(self._load_line())]
        parts.append(
            Text(
                "faults in force: "
                + ("; ".join(f"{n}: {_settings_line(v)}" for n, v in self._faults.items()) or "none")
            )
        )
        parts.append(checks_table(self._checks, live=True))
        return Group(*parts)  # type: ignore[arg-type]

    def _load_line(self) -> str:
        window = self._window
        if window is None:
            return "load: not started"
        started = sum(w.started for w in self._closed) + (window.started if window.partial else 0)
        latency = window.latency_ms.p95 if window.latency_ms is not None else None
        p95 = f", p95 {latency:.0f} ms" if latency is not None else ""
        return (
            f"load: {window.offered_rate:.1f}/s offered, {started} started, {window.in_flight} in flight;"
            f" this window: {window.completed} completed, {window.compensated} compensated,"
            f" {window.cancelled} cancelled, {window.failed} failed{p95}"
        )


def _settings_line(values: dict[str, object]) -> str:
    return ", ".join(f"{key} {value}" for key, value in values.items()) or "clear"


def checks_table(results: list[CheckResult], *, live: bool = False) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, title=None if live else "Checks", title_justify="left")
    table.add_column("check")
    table.add_column("kind")
    table.add_column("value", justify="right")
    table.add_column("result")
    table.add_column("first failed", justify="right")
    for result in results:
        labels = ("did not fire", "fired") if result.kind == "abort_when" else ("pass", "FAIL")
        if result.passed is None:
            verdict = "[dim]waiting[/]"
        else:
            verdict = f"[green]{labels[0]}[/]" if result.passed else f"[red bold]{labels[1]}[/]"
        table.add_row(
            escape(result.expression),
            result.kind,
            _figure(result),
            verdict,
            "" if result.first_failed_s is None else f"{result.first_failed_s:.0f}s",
        )
    return table


def _figure(result: CheckResult) -> str:
    if result.value is None:
        return "n/a"
    if result.expression.startswith("audit"):
        return "clean" if result.value >= 1 else "NOT clean"
    return f"{result.value:.4g}"


def print_verdict(report: ScenarioReport) -> None:
    console = printing.console
    outcome = report.outcome
    console.print(checks_table(report.checks))
    totals = report.totals
    latency = totals.latency_ms
    console.print(
        f"orders: {totals.started} started, {totals.completed} completed, {totals.compensated} compensated,"
        f" {totals.cancelled} cancelled, {totals.failed} failed, {totals.lost} lost, {totals.stuck} stuck;"
        f" p50/p95/p99 {_ms(latency.p50)}/{_ms(latency.p95)}/{_ms(latency.p99)} ms;"
        f" {totals.throughput or 0:.1f} completed/s"
    )
    for step in report.steps:
        if step.status in ("refused", "skipped") and step.note:
            console.print(f"[yellow]step {escape(step.name)}: {step.status}: {escape(step.note)}[/]")
    audit = report.audit
    if audit is None:
        console.print("[red]audit: not run[/]")
    elif audit.clean:
        console.print(f"audit: [green]clean[/] ({audit.records} records)")
    else:
        console.print(f"audit: [red bold]{len(audit.problems)} problem(s)[/]")
        for problem in audit.problems[:20]:
            console.print(f"  [red]{escape(problem)}[/]")
    line = {
        "pass": "[green bold]PASS[/]: the hypothesis holds",
        "fail": "[red bold]FAIL[/]: " + escape(", ".join(outcome.failed_checks)),
        "aborted": f"[red bold]ABORTED[/] at {outcome.stopped_at_s or 0:.0f}s: {escape(outcome.aborted_by or '')}",
        "stopped": f"[yellow bold]STOPPED[/] at {outcome.stopped_at_s or 0:.0f}s (interrupted)",
    }[outcome.verdict]
    console.print(f"verdict: {line}")


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"
