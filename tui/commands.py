"""The command palette (ctrl+p): every dashboard action, presets, filters, sorts, tabs, and jumping to an order.

The palette knows the dashboard only through the `Dashboard` protocol below, so this
module does not import the App (which imports it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import NamedTuple, Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from engine.models import DEFAULT_RELEASE_RATE, PAUSABLE_STEPS
from tui.guard import WRITE_ACTIONS, action_name
from tui.presets import PRESETS, describe_preset
from tui.state import OrderBook, SortMode, StatusFilter

MAX_ORDER_HITS = 20
TABS = ("detail", "faults", "services", "log", "charts", "scenarios")


class PaletteCommand(NamedTuple):
    title: str
    help: str
    callback: Callable[[], object]


class Dashboard(Protocol):
    """What the palette needs of the dashboard app."""

    book: OrderBook
    selected_order: str | None
    read_only: bool
    scenario_names: list[str]

    def show_order(self, order_id: str) -> None: ...
    def set_status_filter(self, status: StatusFilter) -> None: ...
    def set_sort(self, mode: SortMode) -> None: ...
    def apply_preset(self, name: str) -> None: ...
    def action_new_order(self) -> None: ...
    def action_bulk_submit(self) -> None: ...
    def action_cancel_order(self) -> None: ...
    def action_terminate_order(self) -> None: ...
    def action_reset_faults(self) -> None: ...
    def action_pause_step(self, step: str = ...) -> None: ...
    def action_resume_step(self, step: str = ...) -> None: ...
    def action_retry_order(self) -> None: ...
    def action_cancel_matching(self) -> None: ...
    def action_open_web_ui(self) -> None: ...
    def action_copy_order_id(self) -> None: ...
    def action_export(self) -> None: ...
    def action_change_stock(self) -> None: ...
    def action_run_audit(self) -> None: ...
    def action_run_scenario(self, name: str = ...) -> None: ...
    def action_stop_scenario(self) -> None: ...
    def action_pause_log(self) -> None: ...
    def action_log_only_selected(self) -> None: ...
    def action_show_tab(self, tab: str) -> None: ...
    def action_help(self) -> None: ...
    def action_quit(self) -> Awaitable[None]: ...


def palette_commands(dashboard: Dashboard) -> Iterable[PaletteCommand]:
    """Every command that works here: read-only, none of the write actions."""
    for command in _every_command(dashboard):
        if not (dashboard.read_only and action_name(command.callback) in WRITE_ACTIONS):
            yield command


def _every_command(dashboard: Dashboard) -> Iterable[PaletteCommand]:
    yield PaletteCommand("New order", "Open the new order form", dashboard.action_new_order)
    yield PaletteCommand("Bulk submit", "Submit N orders at R per second", dashboard.action_bulk_submit)
    if dashboard.selected_order:
        order = dashboard.selected_order
        yield PaletteCommand(f"Cancel order {order}", "Compensates: refund and restock", dashboard.action_cancel_order)
        yield PaletteCommand(
            f"Terminate order {order} (unsafe)", "No compensation runs", dashboard.action_terminate_order
        )
        yield PaletteCommand(f"Retry order {order}", "Submit it again as a new order", dashboard.action_retry_order)
        yield PaletteCommand(f"Open order {order} in the Web UI", "Its Temporal history", dashboard.action_open_web_ui)
        yield PaletteCommand(f"Copy order id {order}", "To the clipboard (y)", dashboard.action_copy_order_id)
        yield PaletteCommand("Log: only this order", "Or every order again", dashboard.action_log_only_selected)
    yield PaletteCommand(
        "Cancel every order the filter shows", "Asks first, says how many", dashboard.action_cancel_matching
    )
    yield PaletteCommand("Export the orders shown", "To a CSV or JSON file", dashboard.action_export)
    yield PaletteCommand("Set or add stock", "An audited stock change for one SKU", dashboard.action_change_stock)
    yield PaletteCommand("Run the audit", "Check that no money or stock was lost", dashboard.action_run_audit)
    yield PaletteCommand("Pause or follow the log", "The Log tab", dashboard.action_pause_log)
    for name in PRESETS:
        yield PaletteCommand(f"Fault preset: {name}", describe_preset(name), partial(dashboard.apply_preset, name))
    yield PaletteCommand("Reset all faults", "Every endpoint back to no faults", dashboard.action_reset_faults)
    for step in PAUSABLE_STEPS:
        yield PaletteCommand(
            f"Pause {step.value}",
            f"Orders wait before {step.value} (e.g. its provider is down) instead of failing",
            partial(dashboard.action_pause_step, step.value),
        )
        yield PaletteCommand(
            f"Resume {step.value}",
            f"Its waiting orders go on, {DEFAULT_RELEASE_RATE:g} a second with jitter",
            partial(dashboard.action_resume_step, step.value),
        )
    yield PaletteCommand(
        "Run the highlighted scenario", "The Scenarios tab's (asks first)", dashboard.action_run_scenario
    )
    for name in dashboard.scenario_names:
        yield PaletteCommand(
            f"Run scenario {name}",
            "A game day on this stack (asks first)",
            partial(dashboard.action_run_scenario, name),
        )
    yield PaletteCommand(
        "Stop the scenario run", "Faults cleared, orders in flight end (asks first)", dashboard.action_stop_scenario
    )
    for status in StatusFilter:
        yield PaletteCommand(
            f"Show {status.label}", "Status filter of the orders table", partial(dashboard.set_status_filter, status)
        )
    for mode in SortMode:
        yield PaletteCommand(f"Sort by {mode.value}", "Order of the orders table", partial(dashboard.set_sort, mode))
    for tab in TABS:
        yield PaletteCommand(f"Show {tab}", f"The {tab} tab", partial(dashboard.action_show_tab, tab))
    yield PaletteCommand("Help", "Keys and panels", dashboard.action_help)
    yield PaletteCommand("Quit", "Stop everything the dashboard started", dashboard.action_quit)


class DashboardCommands(Provider):
    @property
    def dashboard(self) -> Dashboard:
        return cast(Dashboard, self.app)

    async def discover(self) -> Hits:
        for command in palette_commands(self.dashboard):
            yield DiscoveryHit(command.title, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in palette_commands(self.dashboard):
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.callback, help=command.help)
        needle = query.strip().lower()
        if len(needle) < 2:
            return
        found = 0
        for order_id, row in list(self.dashboard.book.orders.items()):
            if needle in order_id.lower() or needle in (row.customer_id or "").lower():
                title = f"order {order_id}"
                yield Hit(
                    0.5,
                    matcher.highlight(title),
                    partial(self.dashboard.show_order, order_id),
                    text=title,
                    help=f"{row.status.value} · {row.customer_id or '?'}",
                )
                found += 1
                if found >= MAX_ORDER_HITS:
                    break
