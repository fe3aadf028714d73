"""How the Scenarios tab draws a plan and a run: rich renderables from plain data, no widget.

    timeline(plan, duration_s, width, load=scenario.load, statuses=..., now_s=42.0)

The timeline puts each step as a bar on its lane against a time axis, under a row that shows the
load's level over time; a step running now is highlighted, and a run's current second is marked
on the axis. Below it, one line per step (times, name, what it does). The checks, the faults in
force, the last window's figures and the verdict have a function each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import ValidationError
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from engine.models import FaultSettings
from engine.scenarios.model import Load
from engine.scenarios.plan import PlannedStep, describe_fault
from engine.scenarios.report import CheckResult, ScenarioReport, WindowFigures

GUTTER = 6  # the lane labels' column: `load  `
LEVELS = " ▁▂▃▄▅▆▇█"
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
MIN_TICK_GAP = 8  # columns between two axis labels

STATUS_MARK = {
    "pending": ("·", "dim"),
    "running": ("▶", "bold yellow"),
    "done": ("✔", "green"),
    "refused": ("✘", "bold red"),
    "skipped": ("–", "dim"),
    "cancelled": ("■", "yellow"),
}
BAR_STYLE = {
    "pending": "black on grey58",
    "running": "bold black on yellow",
    "done": "black on green",
    "refused": "bold white on red",
    "skipped": "grey50 on grey23",
    "cancelled": "black on dark_orange",
}
VERDICT_STYLE = {"pass": "bold black on green", "fail": "bold white on red", "aborted": "bold white on red"}
OPEN_ENDED = ("faults", "preset")  # without for_s: in force until cleared, or the run ends


def seconds(value: float) -> str:
    """`45s`, `2m`, `1m30s`: an axis label or a step's time."""
    whole = round(value)
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"


def _column(moment: float, span: float, columns: int) -> int:
    return max(0, min(columns - 1, round(moment / span * (columns - 1)))) if span > 0 else 0


def load_levels(load: Load, span: float, columns: int) -> list[float]:
    """The load's level (orders per second, or in flight) at each column's time."""
    levels = []
    for column in range(columns):
        moment = column / max(1, columns - 1) * span
        begin, previous, level = 0.0, 0.0, 0.0
        for phase in load.phases:
            if moment < begin + phase.for_s or phase is load.phases[-1]:
                share = min(1.0, (moment - begin) / phase.for_s)
                level = previous + (phase.level - previous) * share if phase.ramp else phase.level
                if moment > begin + phase.for_s:
                    level = 0.0  # past the load's last phase
                break
            begin, previous = begin + phase.for_s, phase.level
        levels.append(level)
    return levels


def _load_row(load: Load, span: float, columns: int) -> Text:
    levels = load_levels(load, span, columns)
    top = max(levels, default=0.0) or 1.0
    row = Text("load".ljust(GUTTER), style="dim")
    cells = "".join(LEVELS[round(level / top * (len(LEVELS) - 1))] for level in levels)
    row.append(cells, style="cyan")
    return row


def _load_summary(load: Load) -> str:
    unit = {"rate": "/s", "concurrency": " in flight"}
    parts = []
    for phase in load.phases:
        level = f"{phase.level:g}{unit[phase.mode]}"
        parts.append(f"{'ramp to ' if phase.ramp else ''}{level} for {seconds(phase.for_s)}")
    return "load: " + ", then ".join(parts)


def _axis(span: float, columns: int, now_s: float | None) -> list[Text]:
    """The time labels under the lanes, and (during a run) a mark at the current second."""
    step = next((s for s in TICK_STEPS if span / s * MIN_TICK_GAP <= columns), TICK_STEPS[-1])
    cells = [" "] * (columns + MIN_TICK_GAP)
    moment = 0.0
    while moment <= span + 1e-9:
        label = seconds(moment)
        at = _column(moment, span, columns)
        if at + len(label) > columns:
            at = max(0, columns - len(label))
        if all(cell == " " for cell in cells[max(0, at - 1) : at + len(label)]):
            cells[at : at + len(label)] = list(label)
        moment += step
    lines = [Text(" " * GUTTER + "".join(cells[:columns]).rstrip(), style="dim")]
    if now_s is not None:
        at = _column(min(now_s, span), span, columns)
        mark = Text(" " * (GUTTER + at))
        mark.append(f"▲ {seconds(now_s)}", style="bold yellow")
        lines.insert(0, mark)
    return lines


def _end(step: PlannedStep, span: float) -> float | None:
    if step.end_s is not None:
        return step.end_s
    return span if step.kind in OPEN_ENDED else None


def _lanes(
    plan: Sequence[PlannedStep], span: float, columns: int, statuses: Mapping[int, str], now_s: float | None
) -> list[Text]:
    lanes = max((step.lane for step in plan), default=-1) + 1
    rows: list[list[tuple[str, str]]] = [[(" ", "")] * columns for _ in range(lanes)]
    taken: set[tuple[int, int]] = set()  # (lane, column) cells a step draws on
    for step in sorted(plan, key=lambda s: s.start_s):
        row = rows[step.lane]
        status = statuses.get(step.index, "pending")
        start = _column(step.start_s, span, columns)
        end_s = _end(step, span)
        if end_s is None:  # an instant: a diamond, its name after it where there is room
            label = "◆" + step.name
            for offset, char in enumerate(label[: columns - start]):
                if offset == 0 or (step.lane, start + offset) not in taken:
                    row[start + offset] = (char, STATUS_MARK[status][1] if offset else "bold magenta")
            taken.add((step.lane, start))
            continue
        end = max(start + 1, _column(end_s, span, columns))
        if end - start >= 3:
            end -= 1  # a gap before the next step on the lane
        width = end - start
        label = step.name if len(step.name) <= width else step.name[: max(0, width - 1)] + "…"
        label = label[:width].ljust(width)
        if step.end_s is None and width > 1:
            label = label[:-1] + "»"  # in force until cleared
        for offset, char in enumerate(label):
            row[start + offset] = (char, BAR_STYLE.get(status, BAR_STYLE["pending"]))
            taken.add((step.lane, start + offset))
    now_column = _column(min(now_s, span), span, columns) if now_s is not None else None
    lines = []
    for lane, row in enumerate(rows):
        if now_column is not None and (lane, now_column) not in taken:
            row[now_column] = ("│", "yellow")
        line = Text(" " * GUTTER)
        for char, style in row:
            line.append(char, style=style)
        lines.append(line)
    return lines


def timeline(
    plan: Sequence[PlannedStep],
    duration_s: float,
    width: int,
    *,
    load: Load | None = None,
    statuses: Mapping[int, str] | None = None,
    now_s: float | None = None,
) -> Group:
    """The plan drawn for `width` columns: the load, the lanes of steps, the time axis, the steps."""
    statuses = statuses or {}
    span = max(duration_s, 1.0)
    columns = max(10, width - GUTTER - 1)
    parts: list[RenderableType] = []
    if load is not None:
        parts.append(_load_row(load, span, columns))
    parts += _lanes(plan, span, columns, statuses, now_s)
    parts += _axis(span, columns, now_s)
    if load is not None:
        parts.append(Text(_load_summary(load), style="dim", overflow="ellipsis", no_wrap=True))
    parts.append(step_list(plan, statuses))
    return Group(*parts)


def step_list(plan: Sequence[PlannedStep], statuses: Mapping[int, str]) -> RenderableType:
    if not plan:
        return Text("no steps: load only", style="dim")
    table = Table(box=None, padding=(0, 1, 0, 0), show_header=False, expand=True)
    table.add_column(no_wrap=True)  # status mark
    table.add_column(no_wrap=True, justify="right")  # times
    table.add_column(no_wrap=True, max_width=24, overflow="ellipsis")  # name
    table.add_column(ratio=1, overflow="fold")  # detail
    for step in plan:
        status = statuses.get(step.index, "pending")
        mark, style = STATUS_MARK.get(status, STATUS_MARK["pending"])
        end = f"–{seconds(step.end_s)}" if step.end_s is not None else ""
        row_style = "bold" if status == "running" else "dim" if status in ("skipped", "cancelled") else ""
        table.add_row(
            Text(mark, style=style),
            Text(f"{seconds(step.start_s)}{end}", style="dim"),
            Text(step.name, style=row_style or "bold"),
            Text(step.detail + ("" if status in ("pending", "running", "done") else f" ({status})"), style=row_style),
        )
    return table


def checks_table(results: Sequence[CheckResult], *, final: bool = False) -> RenderableType:
    """Each check: held or not, with the figure it read (and since when it fails)."""
    if not results:
        return Text("no checks in this scenario", style="dim")
    table = Table(box=None, padding=(0, 1, 0, 0), show_header=False, expand=True)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True, overflow="ellipsis")
    table.add_column(no_wrap=True, justify="right")
    table.add_column(ratio=1, no_wrap=True, overflow="ellipsis", style="dim")
    for result in results:
        if result.passed is None:
            mark = Text("…", style="dim")
        elif result.passed:
            mark = Text("✔", style="bold green")
        else:
            mark = Text("✘", style="bold red")
        kind = "abort when " if result.kind == "abort_when" else ""
        note = ""
        if result.first_failed_s is not None:
            verb = "fired" if result.kind == "abort_when" else "failing" if not final else "first failed"
            note = f"{verb} at {seconds(result.first_failed_s)}"
        elif result.passed is None:
            note = "at the end" if result.expression.startswith("audit") else "no figure yet"
        figure = _figure(result.value)
        if result.expression.startswith("audit") and result.value is not None:
            figure = "clean" if result.value >= 1 else "NOT clean"
        table.add_row(mark, Text(kind + result.expression), Text(figure), note)
    return Group(Text("checks" + ("" if final else " (live)"), style="bold"), table)


def _figure(value: float | None) -> str:
    if value is None:
        return "—"
    if value == int(value) and abs(value) >= 1:
        return f"{int(value)}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"


def faults_line(faults: Mapping[str, Mapping[str, object]]) -> Text:
    """The faults the run has in force, one endpoint after the other."""
    line = Text("faults in force: ", style="bold")
    if not faults:
        return line.append("none", style="dim")
    parts = []
    for endpoint, values in faults.items():
        try:
            described = describe_fault(FaultSettings.model_validate(dict(values)))
        except ValidationError:
            described = ", ".join(f"{key} {value}" for key, value in values.items())
        parts.append(f"{endpoint}: {described}")
    return line.append("; ".join(parts), style="bold red")


def window_line(window: WindowFigures | None) -> Text:
    """The last window's figures: load offered, orders by outcome, in flight, p95."""
    line = Text("orders: ", style="bold")
    if window is None:
        return line.append("no figures yet", style="dim")
    p95 = window.latency_ms.p95 if window.latency_ms is not None else None
    parts = [
        f"{window.offered_rate:g}/s offered",
        f"{window.started} started",
        f"{window.completed} completed",
        f"{window.compensated} compensated",
        f"{window.cancelled} cancelled",
        f"{window.failed} failed",
        f"{window.in_flight} in flight",
        f"p95 {p95:.0f} ms" if p95 is not None else "p95 —",
    ]
    span = f" ({seconds(window.start_s)}–{seconds(window.end_s)})"
    return line.append(" · ".join(parts)).append(span, style="dim")


def verdict_lines(report: ScenarioReport, written: Sequence[Path]) -> RenderableType:
    """The verdict in a coloured badge with why, the totals and audit, and where the report went."""
    outcome = report.outcome
    badge = Text(f" {outcome.verdict.upper()} ", style=VERDICT_STYLE.get(outcome.verdict, "bold black on yellow"))
    if outcome.verdict == "pass":
        why = "every check held"
    elif outcome.verdict == "fail":
        why = "failed: " + ", ".join(outcome.failed_checks) if outcome.failed_checks else "a check failed"
    elif outcome.verdict == "aborted":
        why = f"aborted by {outcome.aborted_by}"
    else:
        at = f" at {seconds(outcome.stopped_at_s)}" if outcome.stopped_at_s is not None else ""
        why = f"stopped{at}: faults cleared, orders in flight ended"
    head = Text.assemble(badge, " ", (why, "bold"))
    totals = report.totals
    audit = report.audit
    audit_text = "audit: not run"
    if audit is not None:
        audit_text = "audit clean" if audit.clean else f"audit NOT clean: {'; '.join(audit.problems[:2])}"
    counts = Text(
        f"{totals.started} orders: {totals.completed} completed, {totals.compensated} compensated, "
        f"{totals.cancelled} cancelled, {totals.failed} failed, {totals.stuck} stuck, {totals.lost} lost · ",
        style="dim",
    )
    counts.append(audit_text, style="green" if audit is not None and audit.clean else "bold red")
    where = Text("report: ", style="bold")
    if written:
        where.append(str(written[0]))
        if len(written) > 1:
            where.append(" (" + ", ".join(path.name for path in written[1:]) + " beside it)", style="dim")
    else:
        where.append("not written", style="bold red")
    return Group(head, counts, where)
