"""The numbers bar: in flight, completed, compensated, compensating, throughput with a sparkline, latency."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static

from tui.format import duration
from tui.state import Counts


@dataclass
class Numbers:
    counts: Counts = field(default_factory=Counts)
    throughput: float = 0.0
    per_second: list[float] = field(default_factory=list)
    p50: float | None = None
    p95: float | None = None


class NumbersBar(Horizontal):
    DEFAULT_CSS = """
    NumbersBar {
        height: 1;
        width: 1fr;
    }
    NumbersBar > #counts { width: 2fr; min-width: 20; }
    NumbersBar > #throughput { width: 10; padding: 0 1; }
    NumbersBar > Sparkline { width: 1fr; min-width: 6; max-width: 60; height: 1; }
    NumbersBar > #latency { width: 23; padding: 0 0 0 1; }
    """

    def compose(self) -> ComposeResult:
        self._counts = Static(id="counts")
        self._throughput = Static(id="throughput")
        self._sparkline = Sparkline([0.0], id="sparkline", summary_function=max)
        self._latency = Static(id="latency")
        yield from (self._counts, self._throughput, self._sparkline, self._latency)

    def show(self, numbers: Numbers) -> None:
        counts = numbers.counts
        line = Text(no_wrap=True)
        line.append("in flight ", style="dim").append(str(counts.in_flight), style="bold yellow")
        line.append("  done ", style="dim").append(str(counts.completed), style="bold green")
        line.append("  comp'd ", style="dim").append(str(counts.compensated), style="bold cyan")
        line.append("  comp'ing ", style="dim").append(
            str(counts.compensating), style="bold magenta" if counts.compensating else "bold"
        )
        failed = counts.failed + counts.terminated
        if failed:
            line.append("  failed ", style="dim").append(str(failed), style="bold red")
        self._counts.update(line, layout=False)  # fixed sizes: no reflow of the screen per batch
        self._throughput.update(Text.assemble(("│ ", "dim"), f"{numbers.throughput:.1f}/s"), layout=False)
        self._sparkline.data = numbers.per_second or [0.0]
        self._latency.update(
            Text.assemble(("p50 ", "dim"), duration(numbers.p50), ("  p95 ", "dim"), duration(numbers.p95)),
            layout=False,
        )
