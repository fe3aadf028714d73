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
    bulk: str = ""  # a bulk submit running in the background: its progress, e.g. "bulk 12/100"


WORDS_FROM = 130  # columns from which the counts are named in words rather than by the status symbols
COUNTS_TOOLTIP = (
    "in flight: orders running now\n"
    "✔ completed · ↩ compensated (refunded, restocked) · ↺ compensating now\n"
    "✘ failed or terminated (once there was one, it stays shown, at 0 too)\n"
    "the rate: orders finished per second, the last 10 s; p50 p95: their latency"
)


def counts_text(counts: Counts, *, words: bool, show_failed: bool = False) -> Text:
    """`show_failed`: the failed count even at 0 (it was not 0 once: its going away would hide that)."""
    failed = counts.failed + counts.terminated
    show_failed = show_failed or bool(failed)
    compensating = "bold magenta" if counts.compensating else "bold"
    if words:
        parts = [
            ("in flight ", counts.in_flight, "bold yellow"),
            ("  completed ", counts.completed, "bold green"),
            ("  compensated ", counts.compensated, "bold cyan"),
            ("  compensating ", counts.compensating, compensating),
        ]
        if show_failed:
            parts.append(("  failed ", failed, "bold red" if failed else "bold"))
    else:  # the status column's symbols stand for the words (see the help screen)
        parts = [
            ("in flight ", counts.in_flight, "bold yellow"),
            ("  ✔ ", counts.completed, "bold green"),
            ("  ↩ ", counts.compensated, "bold cyan"),
            ("  ↺ ", counts.compensating, compensating),
        ]
        if show_failed:
            parts.append(("  ✘ ", failed, "bold red" if failed else "bold"))
    line = Text(no_wrap=True)
    for label, value, style in parts:
        line.append(label, style="dim").append(str(value), style=style)
    return line


class NumbersBar(Horizontal):
    """The counts take the width they need; the sparkline takes what is left."""

    DEFAULT_CSS = """
    NumbersBar {
        height: 1;
        width: 1fr;
    }
    NumbersBar > #counts { width: 28; }
    NumbersBar > #throughput { width: 10; padding: 0 1; }
    NumbersBar > Sparkline { width: 1fr; min-width: 4; height: 1; }
    NumbersBar > #latency { width: 20; padding: 0 0 0 1; }
    """

    catching_up = False
    failed_seen = False  # a failed or terminated order was counted once: the count stays, at 0 too
    _refit = True  # the next show fits the widths to its text, narrower too

    def compose(self) -> ComposeResult:
        self._counts = Static(id="counts")
        self._counts.tooltip = COUNTS_TOOLTIP
        self._throughput = Static(id="throughput")
        self._sparkline = Sparkline([0.0], id="sparkline", summary_function=max)
        self._latency = Static(id="latency")
        yield from (self._counts, self._throughput, self._sparkline, self._latency)

    def show(self, numbers: Numbers, *, catching_up: bool = False) -> None:
        """While catching up (after a start, the history is being replayed) the counts are not shown yet."""
        if catching_up != self.catching_up:
            self._refit = True  # other words: the widths start over
        self.catching_up = catching_up
        if catching_up:
            counts = Text("catching up…", style="bold yellow")
        else:
            self.failed_seen = self.failed_seen or bool(numbers.counts.failed + numbers.counts.terminated)
            words = self.size.width >= WORDS_FROM
            counts = counts_text(numbers.counts, words=words, show_failed=self.failed_seen)
        if numbers.bulk:
            counts.append("  " + numbers.bulk, style="bold blue")
        self._fitted(self._counts, counts)
        self._throughput.update(Text.assemble(("│ ", "dim"), f"{numbers.throughput:.1f}/s"), layout=False)
        self._sparkline.data = numbers.per_second or [0.0]
        latency = Text.assemble(("p50 ", "dim"), duration(numbers.p50), ("  p95 ", "dim"), duration(numbers.p95))
        self._fitted(self._latency, latency)
        self._refit = False

    def on_resize(self) -> None:
        self._refit = True  # the counts may change between words and symbols

    def _fitted(self, widget: Static, text: Text) -> None:
        """Show `text` whole. The width grows with the text and does not shrink back while the numbers
        run: every change of width lays out the screen, and in flight going 9, 10, 9 with every batch
        of events did so several times a second."""
        width = text.cell_len + widget.styles.gutter.width
        shown = widget.styles.width.value if widget.styles.width is not None else None
        if shown is None or width > shown or (self._refit and width != shown):
            widget.styles.width = width
        widget.update(text, layout=False)
