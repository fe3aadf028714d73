"""The Charts tab: orders finished by status and in flight over the last minutes; error rate per endpoint."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.history import History, spark

STYLE = {"completed": "green", "compensated": "cyan", "failed": "red"}


def charts(history: History, width: int) -> Table:
    bars = max(8, width - 26)
    table = Table(box=None, padding=(0, 1), show_edge=False, show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    minutes = history.bucket_seconds * min(bars, history.in_flight.maxlen or bars) / 60
    table.add_row(Text(f"orders per {history.bucket_seconds} s, last {minutes:.0f} min", style="bold dim"), "", "")
    for name, series in history.finished.items():
        values = list(series)
        table.add_row(name, Text(spark(values, bars), style=STYLE[name]), str(int(values[-1])) if values else "—")
    flight = list(history.in_flight)
    table.add_row("in flight", Text(spark(flight, bars), style="yellow"), str(int(flight[-1])) if flight else "—")
    table.add_row("", "", "")
    table.add_row(Text("errors per request", style="bold dim"), "", "")
    for endpoint, series in sorted(history.error_rate.items()):
        values = list(series)
        last = values[-1] if values else 0.0
        table.add_row(endpoint, Text(spark(values, bars), style="red" if last else "dim"), f"{last:.0%}")
    if not history.error_rate:
        table.add_row(Text("waiting for the services…", style="dim"), "", "")
    return table


class ChartsPanel(VerticalScroll):
    DEFAULT_CSS = """
    ChartsPanel { height: 1fr; padding: 0 1; }
    """

    def __init__(self, history: History, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history = history
        self._body = Static()

    def compose(self) -> ComposeResult:
        yield self._body

    def redraw(self) -> None:
        """Only while shown: charts nobody looks at are not worth a redraw."""
        if self.is_mounted and self.display and self.parent is not None and self.parent.display:
            self._body.update(charts(self.history, self.size.width))
