"""The Charts tab: orders finished by status and in flight over the last minutes; errors per request
of each endpoint. Plots with labelled axes, a scale and time labels (plotext, in Textual through
textual-plotext), drawn once a second while the tab is shown."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from tui.history import History

RGB = tuple[int, int, int]
# The same colour in the plot (plotext takes RGB) and in its legend (rich): colour names differ between them.
COLOUR: dict[str, RGB] = {
    "completed": (80, 200, 80),
    "compensated": (60, 190, 220),
    "failed": (230, 60, 60),
    "in flight": (240, 190, 40),
}
ENDPOINT_COLOURS: tuple[RGB, ...] = (
    (230, 60, 60),
    (240, 150, 40),
    (190, 110, 230),
    (60, 190, 220),
    (80, 200, 80),
    (240, 110, 180),
    (200, 200, 200),
)
TICK_STEPS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600)  # seconds between time labels


def ago(seconds: float) -> str:
    """A time label: `now`, `-30s`, `-2m`, `-1h`."""
    seconds = round(-seconds)
    if seconds <= 0:
        return "now"
    if seconds < 60:
        return f"-{seconds}s"
    if seconds < 3600:
        return f"-{seconds // 60}m"
    return f"-{seconds // 3600}h"


def time_ticks(oldest: float) -> tuple[list[float], list[str]]:
    """Labels at round times from `oldest` (seconds, negative: ago) to now, at most six of them."""
    span = max(1.0, -oldest)
    step = next((step for step in TICK_STEPS if span / step <= 5), TICK_STEPS[-1])
    positions = [-step * index for index in range(max(1, math.ceil(span / step)) + 1)][::-1]
    return [float(p) for p in positions], [ago(p) for p in positions]


def relative(times: Sequence[float], now: float) -> list[float]:
    return [moment - now for moment in times]


def legend(series: list[tuple[str, RGB, float | None]], number: str) -> Text:
    """`● completed 4  ● failed 0`: each series' colour, name and latest value."""
    line = Text(no_wrap=True, overflow="ellipsis")
    for name, (red, green, blue), last in series:
        line.append("● ", style=f"rgb({red},{green},{blue})").append(name, style="dim")
        line.append(f" {number.format(last)}  " if last is not None else " —  ", style="bold")
    return line


class ChartsPanel(Vertical):
    """Two plots, each under a legend line of its own (plotext's legend needs room a tab may not
    have); side by side when the panel is wide enough, one above the other otherwise."""

    DEFAULT_CSS = """
    ChartsPanel { height: 1fr; padding: 0 1; }
    ChartsPanel.-side { layout: horizontal; }
    ChartsPanel > Vertical { height: 1fr; }
    ChartsPanel > Vertical > .legend { height: 1; }
    ChartsPanel > Vertical > PlotextPlot { height: 1fr; min-height: 6; }
    """
    SIDE_BY_SIDE = 100  # columns from which the two plots sit side by side

    def __init__(self, history: History, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history = history
        self.orders_plot = PlotextPlot(id="orders-chart")
        self.errors_plot = PlotextPlot(id="errors-chart")
        self.orders_legend = Static(classes="legend")
        self.errors_legend = Static(classes="legend")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield self.orders_legend
            yield self.orders_plot
        with Vertical():
            yield self.errors_legend
            yield self.errors_plot

    def on_resize(self) -> None:
        self.set_class(self.size.width >= self.SIDE_BY_SIDE, "-side")

    def redraw(self, now: float | None = None) -> None:
        """Only while shown: charts nobody looks at are not worth a redraw."""
        if self.is_mounted and self.display and self.parent is not None and self.parent.display:
            now = time.monotonic() if now is None else now
            self._draw_orders(now)
            self._draw_errors(now)

    def _draw_orders(self, now: float) -> None:
        history, plt = self.history, self.orders_plot.plt
        plt.clear_figure()
        plt.title(f"Orders finished per {history.bucket_seconds} s, and in flight")
        plt.xlabel("time")
        plt.ylabel("orders")
        x = relative(history.bucket_times, now)
        series = {
            **{name: list(values) for name, values in history.finished.items()},
            "in flight": list(history.in_flight),
        }
        for name, values in series.items():
            if x:
                plt.plot(x, values, color=COLOUR[name], marker="braille")
        self.orders_legend.update(
            legend([(name, COLOUR[name], values[-1] if values else None) for name, values in series.items()], "{:g}")
        )
        highest = max((max(values, default=0.0) for values in series.values()), default=0.0)
        self._axes(plt, x, top=max(1.0, highest) * 1.1)
        self.orders_plot.refresh()

    def _draw_errors(self, now: float) -> None:
        history, plt = self.history, self.errors_plot.plt
        plt.clear_figure()
        plt.title("Errors per request, each endpoint (%)")
        plt.xlabel("time")
        plt.ylabel("% errors")
        oldest: list[float] = []
        shown: list[tuple[str, RGB, float | None]] = []
        for index, (endpoint, rates) in enumerate(sorted(history.error_rate.items())):
            x = relative(history.error_times.get(endpoint, ()), now)[-len(rates) :]
            if len(x) == len(rates) and x:
                colour = ENDPOINT_COLOURS[index % len(ENDPOINT_COLOURS)]
                plt.plot(x, [rate * 100 for rate in rates], color=colour, marker="braille")
                shown.append((endpoint, colour, rates[-1] * 100))
                oldest = min(oldest, x, key=lambda xs: xs[0]) if oldest else x
        if shown:
            self.errors_legend.update(legend(shown, "{:.0f}%"))
        else:
            self.errors_legend.update(Text("waiting for the services…", style="dim"))
        self._axes(plt, oldest, top=100.0)
        self.errors_plot.refresh()

    @staticmethod
    def _axes(plt: Plot, x: list[float], *, top: float) -> None:
        """Time labels under the plot, and a scale from 0 (never a negative count)."""
        positions, labels = time_ticks(x[0] if x else -60.0)
        plt.xticks(positions, labels)
        plt.xlim(positions[0], 0)
        plt.ylim(0, top)
