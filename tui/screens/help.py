"""The help screen (`?`): every key with what it does, and what each panel shows."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

PANELS = (
    (
        "status line",
        "Temporal, NATS, worker and each service: ● up, ○ down; endpoints with faults; the Temporal Web UI address.",
    ),
    (
        "numbers",
        "in flight, ✔ completed, ↩ compensated, ↺ compensating (retrying), ✘ failed or terminated (shown at 0 "
        "too once there was one; the mouse over the counts says so); finished orders per second with the last "
        "minute as a sparkline; saga latency p50/p95 (started → finished); 'bulk 12/100' while a bulk submit runs "
        "in the background. 'catching up…' while the history is replayed after a start.",
    ),
    (
        "orders",
        "one row per order, updated in place; filter by text and status ('N of M'), sort with s or a click on a "
        "column header (the arrow shows which); att is the most attempts any step took; age counts from the start.",
    ),
    (
        "detail",
        "the selected order's saga: each step and compensation with status, attempts, started, finished, time "
        "taken and last error; its step events; retry links; the order's Temporal Web UI link.",
    ),
    (
        "faults",
        "per endpoint: error, decline and lost-reply rates (0..1), latency and jitter (ms), down. Arrows move, Enter "
        "applies a value; presets and reset below; a latency above the request timeout is called out.",
    ),
    (
        "services",
        "stock per SKU, ledger charged/refunded/net, requests/errors/declines per endpoint; stock changes; "
        "the audit's verdict.",
    ),
    ("log", "the tail of step events: p pauses or follows, o shows only the selected order's."),
    ("charts", "plots of orders finished by status and in flight per 10 s, and errors per request of each endpoint."),
    (
        "scenarios",
        "game days: the scenario files (configs/scenarios) and the highlighted one's plan, the load above its steps "
        "on a time axis. Enter or ▶ run runs it on this dashboard's stack after asking; the timeline then marks the "
        "current step and second, with the checks live, the faults in force and the last window's orders; S or "
        "■ stop ends it early (faults cleared). At the end: the verdict and where the report was written.",
    ),
)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close", tooltip="Close the help"),
    ]

    def __init__(self, keys: list[tuple[str, str, str, str]], *, read_only: bool = False) -> None:
        """`keys`: (key as shown, description, longer help, binding id) for every binding that works."""
        super().__init__()
        self.keys = keys
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        keys = Table(box=None, padding=(0, 1), show_header=False, expand=True)
        keys.add_column(style="bold cyan", no_wrap=True)
        keys.add_column(style="bold", no_wrap=True)
        keys.add_column(ratio=1)
        keys.add_column(style="dim", no_wrap=True)
        for key, description, tooltip, binding_id in self.keys:
            keys.add_row(Text(key), Text(description), Text(tooltip), Text(binding_id))
        keys.add_row("ctrl+p", "Commands", "every action, searchable", "")
        panels = Table(box=None, padding=(0, 1), show_header=False, expand=True)
        panels.add_column(style="bold", no_wrap=True)
        panels.add_column(ratio=1)
        for name, text in PANELS:
            panels.add_row(name, text)
        with VerticalScroll() as scroll:
            scroll.border_title = "Help: esc closes"
            if self.read_only:
                yield Static(
                    Text("read-only: the keys that change orders, stock or faults are gone\n", style="bold yellow")
                )
            yield Static(Text.assemble(("Keys", "bold underline"), ("   (last column: the id to remap it)", "dim")))
            yield Static(keys)
            yield Static(Text("\nPanels", style="bold underline"))
            yield Static(panels)
            yield Static(
                Text(
                    "\nKeys can be remapped in the config: dashboard.keymap maps a binding id "
                    '(e.g. new_order) to keys (e.g. "n,ctrl+n").',
                    style="dim",
                )
            )
