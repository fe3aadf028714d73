"""The operator dashboard: one screen over a `Stack` (embedded servers, worker, services) or a cluster.

All I/O goes through `stack.facade` (a `CheckoutFacade`) in workers that post the typed
messages of `tui/messages.py`; the one exception is the event feed (`tui/feed.py`), whose
worker buffers step events that a timer folds into the order book and onto the screen in
one batch every `dashboard.batch_ms`, so a busy worker in the same process does not starve
the UI. Nothing polls Temporal per order. The operator's actions live in `tui/actions.py`,
the palette in `tui/commands.py`, the process entry in `tui/entry.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.notifications import SeverityLevel
from textual.widgets import Footer, Input, Select, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from engine.config import Settings
from engine.errors import CheckoutError
from engine.facade import CheckoutFacade
from engine.models import Health, StepEvent
from tui.actions import OperatorActions
from tui.commands import TABS, DashboardCommands
from tui.config import DashboardSettings, dashboard_settings
from tui.feed import TICK_SECONDS, EventFeed
from tui.format import one_line
from tui.keys import BINDINGS
from tui.messages import (
    ActionDone,
    DetailLoaded,
    FilterChanged,
    OrderChosen,
    OrderSelected,
    OrdersListed,
    Refreshed,
    Severity,
    StackFailed,
    StackStarted,
)
from tui.screens.help import HelpScreen
from tui.state import Clock, OrderBook, SortMode, StatusFilter, utc_now
from tui.widgets.event_log import EventLog
from tui.widgets.faults_panel import FaultsPanel
from tui.widgets.filter_bar import FilterBar
from tui.widgets.numbers import Numbers, NumbersBar
from tui.widgets.order_detail import OrderDetail
from tui.widgets.orders_table import OrdersTable
from tui.widgets.services_panel import ServicesPanel
from tui.widgets.status_line import StatusLine

WIDE = 140  # columns from which the tabs sit beside the table instead of below it
CALL_TIMEOUT = 5.0
T = TypeVar("T")


class StackLike(Protocol):
    """What the dashboard needs of `engine.stack.Stack` (tests hand it a fake)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def facade(self) -> CheckoutFacade: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Metrics:
    """What the dashboard measures about itself (exposed for tests and the benchmarks)."""

    events: int = 0
    batches: int = 0
    largest_batch: int = 0
    slowest_batch_ms: float = 0.0
    lag_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    """Per batch of live events: from its oldest event's time to the screen redrawn."""


class CheckoutApp(OperatorActions):
    """The dashboard. `stack` is started on mount (when `owns_stack`) and stopped on quit."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "checkout-ops"
    COMMANDS = App.COMMANDS | {DashboardCommands}
    BINDINGS = BINDINGS

    def __init__(self, stack: StackLike, *, owns_stack: bool = True, clock: Clock = utc_now) -> None:
        self.stack = stack
        self.owns_stack = owns_stack
        self.settings = stack.settings
        self.dashboard: DashboardSettings = dashboard_settings(self.settings.dashboard)
        super().__init__()
        if self.dashboard.theme:
            self.theme = self.dashboard.theme
        self.clock = clock
        self.book = OrderBook(clock=clock, max_orders=self.dashboard.max_rows)
        self.feed = EventFeed(replay_hours=self.dashboard.replay_hours, batch_ms=self.dashboard.batch_ms, clock=clock)
        self.metrics = Metrics()
        self.notices: deque[tuple[str, str, str]] = deque(maxlen=200)  # (severity, title, message)
        self.facade: CheckoutFacade | None = None
        self.start_error: CheckoutError | None = None
        self.selected_order: str | None = None
        self.stopping = False
        self._nats_was_up: bool | None = None
        self._select_when_shown: str | None = None
        self._detail_loading: str | None = None
        self._detail_again = False
        self._refresh_worker: Worker[None] | None = None
        self._reconcile_worker: Worker[None] | None = None
        self._last_reconcile = 0.0

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield NumbersBar(id="numbers")
        with Container(id="dashboard-body"):
            with Vertical(id="orders-pane"):
                yield FilterBar(id="filters")
                yield OrdersTable(self.book, id="orders")
            with TabbedContent(id="tabs", initial="detail"):
                with TabPane("Detail", id="detail"):
                    yield OrderDetail(id="order-detail", clock=self.clock)
                with TabPane("Faults", id="faults"):
                    yield FaultsPanel(id="faults-panel")
                with TabPane("Services", id="services"):
                    yield ServicesPanel(self.settings.catalogue, id="services-panel")
                with TabPane("Log", id="log"):
                    yield EventLog(id="event-log")
        yield Footer()

    def on_mount(self) -> None:
        # The main screen's widgets, kept: with a modal screen on top, queries would search the modal.
        self.status_line = self.query_one(StatusLine)
        self.numbers_bar = self.query_one(NumbersBar)
        self.body = self.query_one("#dashboard-body")
        self.filter_bar = self.query_one(FilterBar)
        self.orders_table = self.query_one(OrdersTable)
        self.tabs = self.query_one(TabbedContent)
        self.detail_view = self.query_one(OrderDetail)
        self.faults_panel = self.query_one(FaultsPanel)
        self.services_panel = self.query_one(ServicesPanel)
        self.event_log = self.query_one(EventLog)
        self._apply_keymap()
        self._layout_for(self.size.width)
        self.status_line.phase = "starting servers…" if self.owns_stack else "connecting…"
        self.orders_table.focus()
        self.set_interval(TICK_SECONDS, self._apply_pending)
        self.set_interval(self.dashboard.refresh_seconds, self._tick)
        self._start_stack()

    def on_resize(self) -> None:
        if hasattr(self, "body"):
            self._layout_for(self.size.width)

    def _layout_for(self, width: int) -> None:
        self.body.set_class(width >= WIDE, "-wide")

    def _apply_keymap(self) -> None:
        keymap = self.dashboard.keymap
        known = {binding.id for binding in self.BINDINGS if isinstance(binding, Binding) and binding.id}
        unknown = sorted(set(keymap) - known)
        if unknown:
            self.say(f"dashboard.keymap: unknown binding ids {', '.join(unknown)}", severity="warning")
        self.set_keymap({key: value for key, value in keymap.items() if key in known})

    # --- the stack's life cycle ---------------------------------------------------------------

    @work(exclusive=True, group="stack", exit_on_error=False)
    async def _start_stack(self) -> None:
        try:
            if self.owns_stack:
                await self.stack.start()
        except CheckoutError as error:
            self.post_message(StackFailed(error))
            return
        self.post_message(StackStarted())

    @on(StackStarted)
    def _stack_started(self) -> None:
        self.facade = self.stack.facade
        self.status_line.phase = ""
        self.services_panel.catalogue = self.facade.catalogue
        self._follow_events()
        self._reconcile(initial=True)
        self.refresh_now()

    @on(StackFailed)
    def _stack_failed(self, message: StackFailed) -> None:
        self.start_error = message.error
        self.status_line.phase = f"{message.error.title}: {message.error.message} (q quits)"
        self.say(message.error.message, title=message.error.title, severity="error", timeout=30)

    async def action_quit(self) -> None:
        if self.stopping:
            self._exit_with(self._exit_code())  # a second q does not wait
            return
        self.stopping = True
        for group in ("events", "refresh", "reconcile", "detail", "stack"):
            self.workers.cancel_group(self, group)
        if self.owns_stack:
            self.status_line.phase = "stopping…"
            self._stop_stack()
        else:
            self._exit_with(self._exit_code())

    @work(exclusive=True, group="stopping", exit_on_error=False)
    async def _stop_stack(self) -> None:
        try:
            await self.stack.stop()
        except Exception as error:  # the app is going away: say it on the way out, do not crash
            self.log.error(f"stopping the stack: {error!r}")
        self._exit_with(self._exit_code())

    def _exit_with(self, code: int) -> None:
        self.exit(code, return_code=code)

    def _exit_code(self) -> int:
        return self.start_error.exit_code if self.start_error else 0

    # --- events: buffered by the feed, applied in batches by a timer --------------------------

    def _follow_events(self) -> None:
        assert self.facade is not None
        self.run_worker(self.feed.follow(self.facade.events), group="events", name="events", exit_on_error=False)

    def _resubscribe(self, why: str) -> None:
        """Start the event subscription again, replaying from the last event seen (nothing lost)."""
        if self.facade is None or self.stopping:
            return
        self.log.warning(why)
        self.workers.cancel_group(self, "events")
        self._follow_events()

    def _apply_pending(self) -> None:
        """Fold the feed's batch (when one is due) into the order book, then redraw what changed, once."""
        batch = self.feed.take()
        if batch is None:
            return
        started = time.perf_counter()
        result = self.book.apply(batch)
        self.orders_table.apply_batch(result)
        events = [item for item in batch if isinstance(item, StepEvent)]
        if events:
            self.event_log.add_events(events)
            self.metrics.events += len(events)
            oldest = min(event.time for event in events)
            if (self.clock() - oldest).total_seconds() < 10:  # live, not a replay of history
                self.call_after_refresh(self._measure_lag, oldest)
        if self.selected_order and self.selected_order in result.touched:
            self.request_detail(self.selected_order)  # a step event or a listing changed it
        if self._select_when_shown and self.orders_table.select_order(self._select_when_shown):
            self._select_when_shown = None
        self._show_numbers()
        self.metrics.batches += 1
        self.metrics.largest_batch = max(self.metrics.largest_batch, len(batch))
        self.metrics.slowest_batch_ms = max(self.metrics.slowest_batch_ms, (time.perf_counter() - started) * 1000)

    def _measure_lag(self, oldest: datetime) -> None:
        """After the redraw: how long the oldest event of the batch took from happening to the screen."""
        self.metrics.lag_ms.append(max(0.0, (self.clock() - oldest).total_seconds() * 1000))

    def _show_numbers(self) -> None:
        now = self.clock()
        p50, p95 = self.book.latency()
        self.numbers_bar.show(
            Numbers(
                counts=self.book.counts(),
                throughput=self.book.throughput(now),
                per_second=self.book.finished_per_second(now),
                p50=p50,
                p95=p95,
            )
        )

    # --- once a second: ages, numbers, health, services, faults; orders from Temporal ---------

    def _tick(self) -> None:
        self.orders_table.tick_ages()
        self._show_numbers()
        if self.detail_view.is_live:
            self.detail_view.redraw(layout=False)  # ages and the hold countdown only
        if self.facade is None or self.stopping:
            return
        if self._refresh_worker is None or self._refresh_worker.is_finished:
            self.refresh_now()
        due = time.monotonic() - self._last_reconcile >= self.dashboard.reconcile_seconds
        if due and (self._reconcile_worker is None or self._reconcile_worker.is_finished):
            self._reconcile()

    def refresh_now(self) -> None:
        self._refresh_worker = self._read_health()

    @work(group="refresh", exit_on_error=False)
    async def _read_health(self) -> None:
        assert self.facade is not None
        facade = self.facade
        problems: list[str] = []

        async def guarded(call: Callable[[], Awaitable[T]], what: str) -> T | None:
            try:
                return await asyncio.wait_for(call(), CALL_TIMEOUT)
            except CheckoutError as error:
                problems.append(error.message)
            except TimeoutError:
                problems.append(f"{what}: no answer in {CALL_TIMEOUT:g}s")
            return None

        health, snapshot, faults = await asyncio.gather(
            guarded(facade.health, "health"),
            guarded(facade.services_snapshot, "services"),
            guarded(facade.faults, "faults"),
        )
        self.post_message(Refreshed(health or Health(), snapshot, faults, problems))

    @on(Refreshed)
    def _refreshed(self, message: Refreshed) -> None:
        status = self.status_line
        status.health = message.health
        if message.health.nats and self._nats_was_up is False:
            self._resubscribe("NATS is back: resubscribing to step events")
        self._nats_was_up = message.health.nats
        if message.health.nats:
            self.feed.quiet_problem()
        problems = [self.feed.problem] if self.feed.problem else []
        status.problem = "; ".join(dict.fromkeys(problems + message.problems))
        if message.faults is not None:
            self.faults_panel.show(message.faults)
            status.faults = ", ".join(
                service.value for service, settings in message.faults.items() if not settings.is_clear
            )
        if message.snapshot is not None:
            self.services_panel.show(message.snapshot)

    def _reconcile(self, *, initial: bool = False) -> None:
        self._last_reconcile = time.monotonic()
        self._reconcile_worker = self._list_orders(initial)

    @work(group="reconcile", exit_on_error=False)
    async def _list_orders(self, initial: bool) -> None:
        """The newest orders Temporal knows, folded in like events (applying twice changes nothing).

        At start this rebuilds the table; later it catches orders that publish no events
        (started with no worker polling, terminated from outside)."""
        assert self.facade is not None
        try:
            summaries = await asyncio.wait_for(self.facade.list_orders(limit=self.dashboard.max_rows), CALL_TIMEOUT * 2)
        except (CheckoutError, TimeoutError):
            summaries = None
        self.post_message(OrdersListed(summaries, initial=initial))

    @on(OrdersListed)
    def _orders_listed(self, message: OrdersListed) -> None:
        if message.summaries is None:
            if message.initial:
                self._last_reconcile = 0.0  # try the full listing again at the next tick
            return
        self.feed.add_listing(message.summaries)
        if not message.initial and self.feed.looks_stale(message.summaries):
            self._resubscribe("no step events while orders finish: resubscribing")

    # --- selection and detail -----------------------------------------------------------------

    @on(OrderSelected)
    def _selection_changed(self, message: OrderSelected) -> None:
        if message.order_id == self.selected_order:
            return
        self.selected_order = message.order_id
        if message.order_id is None:
            self.detail_view.show(None)
            return
        web_url = self.facade.web_ui_url(message.order_id) if self.facade else None
        self.detail_view.show(message.order_id, None, web_url=web_url)
        self.request_detail(message.order_id)

    @on(OrderChosen)
    def _row_chosen(self) -> None:
        self.action_show_tab("detail")

    def request_detail(self, order_id: str) -> None:
        """Load the saga state; while a load is on its way, remember to load once more after it."""
        if self.facade is None:
            return
        if self._detail_loading == order_id:
            self._detail_again = True
            return
        self._detail_loading = order_id
        self._detail_again = False
        self._load_detail(order_id)

    @work(exclusive=True, group="detail", exit_on_error=False)
    async def _load_detail(self, order_id: str) -> None:
        assert self.facade is not None
        try:
            saga = await asyncio.wait_for(self.facade.state(order_id), CALL_TIMEOUT)
        except CheckoutError as error:
            self.post_message(DetailLoaded(order_id, None, error.message))
        except TimeoutError:
            self.post_message(DetailLoaded(order_id, None, f"no answer in {CALL_TIMEOUT:g}s (is a worker running?)"))
        else:
            self.post_message(DetailLoaded(order_id, saga, None))

    @on(DetailLoaded)
    def _detail_loaded(self, message: DetailLoaded) -> None:
        if self._detail_loading == message.order_id:
            self._detail_loading = None
        if message.order_id != self.selected_order:
            return
        detail = self.detail_view
        saga = message.saga or (detail.saga if detail.order_id == message.order_id else None)
        web_url = self.facade.web_ui_url(message.order_id) if self.facade else None
        detail.show(message.order_id, saga, error=message.error, web_url=web_url)
        if self._detail_again:
            self.request_detail(message.order_id)

    def show_order(self, order_id: str) -> None:
        """Select `order_id` in the table (clearing filters that hide it) and show its detail."""
        table = self.orders_table
        if not table.shown(order_id) and order_id in self.book.orders:
            self.filter_bar.clear()
            table.set_filter(StatusFilter.ALL, "")
        if not table.select_order(order_id):
            self._select_when_shown = order_id
        self.action_show_tab("detail")

    @on(ActionDone)
    def _action_done(self, message: ActionDone) -> None:
        self.say(message.text, title=message.title, severity=message.severity)
        if message.order_id is not None and message.order_id == self.selected_order:
            self.request_detail(message.order_id)
        if message.refresh:
            self.refresh_now()

    # --- filters, sort, tabs, help -----------------------------------------------------------

    @on(FilterChanged)
    def _filter_changed(self, message: FilterChanged) -> None:
        self.orders_table.set_filter(message.status, message.text)

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
        self.filter_bar.query_one("#filter-status", Select).value = status

    def set_sort(self, mode: SortMode) -> None:
        self.orders_table.set_sort(mode)
        self.filter_bar.show_sort(mode)

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_shown(self, message: TabbedContent.TabActivated) -> None:
        if message.pane.id == "log":
            self.event_log.flush_waiting()

    def action_show_tab(self, tab: str) -> None:
        if tab in TABS:
            self.tabs.active = tab

    def key_help(self) -> list[tuple[str, str, str, str]]:
        """(keys, description, tooltip, binding id) of every binding, with the config's keymap applied."""
        rows = []
        for binding in self.BINDINGS:
            if not isinstance(binding, Binding):
                continue
            keys = self.dashboard.keymap.get(binding.id or "", binding.key)
            shown = ", ".join(self.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))
            rows.append((shown, binding.description, binding.tooltip, binding.id or ""))
        return rows

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help()))

    # --- one place where failures become notifications ----------------------------------------

    def say(
        self, message: str, *, title: str = "", severity: Severity = "information", timeout: float | None = None
    ) -> None:
        """A notification in plain text (error messages may hold brackets), remembered in `notices`."""
        self.notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification is plain text (error messages may hold brackets) and is remembered."""
        self.notices.append((severity, title, message))
        super().notify(one_line(message, 300), title=title, severity=severity, timeout=timeout, markup=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR or self.stopping:
            return
        error = event.worker.error
        if isinstance(error, CheckoutError):
            self.say(error.message, title=error.title, severity="error")
        else:
            self.say(one_line(f"{type(error).__name__}: {error}"), title="Unexpected error", severity="error")
        self.log.error(f"worker {event.worker.name} failed: {error!r}")
