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
    NumbersBar > #counts { width: 3fr; min-width: 20; }
    NumbersBar > #throughput { width: 10; padding: 0 1; }
    NumbersBar > Sparkline { width: 2fr; min-width: 6; max-width: 60; height: 1; }
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
        failed = counts.failed + counts.terminated
        line = Text(no_wrap=True, overflow="ellipsis")
        if self._counts.size.width >= 64:
            parts = [
                ("in flight ", counts.in_flight, "bold yellow"),
                ("  completed ", counts.completed, "bold green"),
                ("  compensated ", counts.compensated, "bold cyan"),
                ("  compensating ", counts.compensating, "bold magenta" if counts.compensating else "bold"),
            ]
            if failed:
                parts.append(("  failed ", failed, "bold red"))
        else:  # narrow: the status column's symbols stand for the words (see the help screen)
            parts = [
                ("in flight ", counts.in_flight, "bold yellow"),
                ("  ✔ ", counts.completed, "bold green"),
                ("  ↩ ", counts.compensated, "bold cyan"),
                ("  ↺ ", counts.compensating, "bold magenta" if counts.compensating else "bold"),
            ]
            if failed:
                parts.append(("  ✘ ", failed, "bold red"))
        for label, value, style in parts:
            line.append(label, style="dim").append(str(value), style=style)
        self._counts.update(line, layout=False)  # fixed sizes: no reflow of the screen per batch
        self._throughput.update(Text.assemble(("│ ", "dim"), f"{numbers.throughput:.1f}/s"), layout=False)
        self._sparkline.data = numbers.per_second or [0.0]
        self._latency.update(
            Text.assemble(("p50 ", "dim"), duration(numbers.p50), ("  p95 ", "dim"), duration(numbers.p95)),
            layout=False,
        )
