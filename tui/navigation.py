"""Moving around the dashboard: selection, filters, sort, tabs, help.

A base of the dashboard App; what it shows is kept by the widgets, which it tells what changed.
"""

from __future__ import annotations

import re

from textual import on
from textual.binding import Binding
from textual.widgets import Input, TabbedContent

from tui.commands import TABS
from tui.messages import FilterChanged, OrderChosen, OrderSelected, SortChosen
from tui.screens.help import HelpScreen
from tui.state import OrderBook, SortMode, StatusFilter
from tui.sync import ServerSync
from tui.widgets.event_log import EventLog
from tui.widgets.filter_bar import FilterBar
from tui.widgets.orders_table import OrdersTable


def retry_links(order_id: str, book: OrderBook) -> str:
    """What links an order to its retries: their ids are `<order>-r<n>`."""
    parts = []
    match = re.fullmatch(r"(.+)-r\d+", order_id)
    if match:
        parts.append(f"retry of {match.group(1)}")
    retries = sorted(other for other in book.orders if re.fullmatch(re.escape(order_id) + r"-r\d+", other))
    if retries:
        parts.append(f"retried as {', '.join(retries)}")
    return "; ".join(parts)


class Navigation(ServerSync):
    # Set by the dashboard App.
    read_only: bool
    book: OrderBook
    orders_table: OrdersTable
    filter_bar: FilterBar
    tabs: TabbedContent
    event_log: EventLog

    def __init__(self) -> None:
        super().__init__()
        self.select_when_shown: str | None = None

    # --- selection -----------------------------------------------------------------

    @on(OrderSelected)
    def _selection_changed(self, message: OrderSelected) -> None:
        if message.order_id == self.selected_order:
            return
        self.selected_order = message.order_id
        if message.order_id is None:
            self.detail_view.show(None)
            return
        web_url = self.facade.web_ui_url(message.order_id) if self.facade else None
        self.detail_view.links = retry_links(message.order_id, self.book)
        self.detail_view.show(message.order_id, None, web_url=web_url)
        self.request_detail(message.order_id)

    @on(OrderChosen)
    def _row_chosen(self) -> None:
        self.action_show_tab("detail")

    def show_order(self, order_id: str) -> None:
        """Select `order_id` in the table (clearing filters that hide it) and show its detail."""
        table = self.orders_table
        if not table.shown(order_id) and order_id in self.book.orders:
            self.filter_bar.clear()
            table.set_filter(StatusFilter.ALL, "")
        if not table.select_order(order_id):
            self.select_when_shown = order_id
        self.action_show_tab("detail")

    # --- filters, sort, tabs, help -----------------------------------------------------------

    @on(FilterChanged)
    def _filter_changed(self, message: FilterChanged) -> None:
        self.orders_table.set_filter(message.status, message.text)
        self.filter_bar.show_count(self.orders_table.row_count, len(self.book.orders))

    @on(Input.Submitted, "#filter-text")
    def _filter_done(self) -> None:
        self.orders_table.focus()

    def action_filter(self) -> None:
        self.filter_bar.focus_text()

    def action_clear_filter(self) -> None:
        """Escape: back to the table; from the filter bar or in the table, also clear the filters."""
        focused = self.focused
        in_filters = focused is not None and self.filter_bar in focused.ancestors_with_self
        if in_filters or focused is self.orders_table:
            self.filter_bar.clear()
        self.orders_table.focus()

    def action_cycle_status_filter(self) -> None:
        self.filter_bar.cycle_status()

    def action_cycle_sort(self) -> None:
        self.set_sort(self.orders_table.sort_mode.next())

    def set_status_filter(self, status: StatusFilter) -> None:
        self.filter_bar.set_status(status)

    @on(SortChosen)
    def _sort_chosen(self, message: SortChosen) -> None:
        self.set_sort(message.mode)

    def set_sort(self, mode: SortMode) -> None:
        self.orders_table.set_sort(mode)
        self.filter_bar.show_sort(mode)

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_shown(self, message: TabbedContent.TabActivated) -> None:
        if message.pane.id == "log":
            self.event_log.flush_waiting()

    def action_pause_log(self) -> None:
        self.event_log.set_paused(not self.event_log.paused)
        self.action_show_tab("log")

    def action_log_only_selected(self) -> None:
        only = None if self.event_log.only is not None else self.selected_order
        self.event_log.show_only(only)
        self.action_show_tab("log")

    def action_show_tab(self, tab: str) -> None:
        if tab in TABS:
            self.tabs.active = tab
        if tab == "faults":  # the keyboard goes into the grid
            self.call_after_refresh(self.faults_panel.focus_grid)

    def key_help(self) -> list[tuple[str, str, str, str]]:
        """(keys, description, tooltip, binding id) of every binding that works here (read-only: no
        write action), with the config's keymap applied."""
        rows = []
        for binding in self.BINDINGS:
            if not isinstance(binding, Binding) or not self.check_action(binding.action, ()):
                continue
            keys = self.dashboard.keymap.get(binding.id or "", binding.key)
            shown = ", ".join(self.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))
            rows.append((shown, binding.description, binding.tooltip, binding.id or ""))
        return rows

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help(), read_only=self.read_only))
