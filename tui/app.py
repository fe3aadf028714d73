"""The operator dashboard: one screen over a `Stack` (embedded servers, worker, services) or a cluster.

All I/O goes through `stack.facade` (a `CheckoutFacade`) in workers that post the typed
messages of `tui/messages.py`; the one exception is the event feed (`tui/feed.py`), whose
worker buffers step events that a timer folds into the order book and onto the screen in
one batch every `dashboard.batch_ms`, so a busy worker in the same process does not starve
the UI. Nothing polls Temporal per order.

The App is built in layers, one job each: `notices.py` (notifications, failed workers),
`sync.py` (what is read from the servers), `navigation.py` (selection, filters, tabs),
`actions.py` (what the operator does), `scenario_actions.py` (game days); this module holds the
stack's life cycle and how a batch of events reaches the screen. The palette is `commands.py`,
the process entry `entry.py`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.geometry import Size
from textual.widgets import Footer, Static, TabbedContent, TabPane

from engine.config import Settings
from engine.errors import CheckoutError
from engine.facade import CheckoutFacade
from engine.models import OrderStatus, StepEvent
from engine.supervision import ServerEvent, ServerListener
from tui.commands import DashboardCommands
from tui.config import DashboardSettings, dashboard_settings
from tui.feed import TICK_SECONDS, EventFeed
from tui.format import terminated_line
from tui.guard import WRITE_ACTIONS
from tui.history import History
from tui.keys import BINDINGS
from tui.messages import ActionDone, FailureExplained, StackFailed, StackStarted
from tui.scenario_actions import ScenarioActions
from tui.screens.confirm import QuitScreen
from tui.state import BatchResult, Clock, OrderBook, utc_now
from tui.widgets.charts_panel import ChartsPanel
from tui.widgets.event_log import EventLog
from tui.widgets.faults_panel import FaultsPanel
from tui.widgets.filter_bar import FilterBar
from tui.widgets.numbers import Numbers, NumbersBar
from tui.widgets.order_detail import OrderDetail
from tui.widgets.orders_table import OrdersTable
from tui.widgets.scenarios_panel import ScenariosPanel
from tui.widgets.services_panel import ServicesPanel
from tui.widgets.status_line import StatusLine

WIDE = 130  # columns from which the tabs sit beside the table: both fit, typical ids and reasons whole
# Below this the table's columns and the tabs' labels no longer fit: a cut-off screen would be misread.
SMALLEST = Size(60, 20)


class StackLike(Protocol):
    """What the dashboard needs of `engine.stack.Stack` (tests hand it a fake)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def facade(self) -> CheckoutFacade: ...
    @property
    def runs_worker(self) -> bool: ...
    async def start(self) -> None: ...
    def start_helpers(self) -> None: ...
    async def stop(self) -> None: ...
    def on_server_event(self, listener: ServerListener) -> None: ...


@dataclass
class Metrics:
    """What the dashboard measures about itself (exposed for tests and the benchmarks)."""

    events: int = 0
    batches: int = 0
    largest_batch: int = 0
    slowest_batch_ms: float = 0.0
    lag_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    """Per batch of live events: from its oldest event's time to the screen redrawn."""
    screen_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    """Per batch of live events: from its first event reaching the dashboard to the screen redrawn."""


class CheckoutApp(ScenarioActions):
    """The dashboard. `stack` is started on mount (when `owns_stack`) and stopped on quit."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "checkout-ops"
    COMMANDS = App.COMMANDS | {DashboardCommands}
    BINDINGS = BINDINGS
    stack: StackLike

    def __init__(
        self, stack: StackLike, *, owns_stack: bool = True, clock: Clock = utc_now, read_only: bool = False
    ) -> None:
        self.stack = stack
        self.owns_stack = owns_stack
        self.settings = stack.settings
        self.dashboard: DashboardSettings = dashboard_settings(self.settings.dashboard)
        self.read_only = read_only or self.dashboard.read_only
        """Watch only: no action that changes orders, stock or faults (`--read-only`, `dashboard.read_only`)."""
        super().__init__()
        if self.dashboard.theme:
            self.theme = self.dashboard.theme
        self.clock = clock
        self.book = OrderBook(clock=clock, max_orders=self.dashboard.max_rows)
        self.feed = EventFeed(replay_hours=self.dashboard.replay_hours, batch_ms=self.dashboard.batch_ms, clock=clock)
        self.metrics = Metrics()
        self.history = History()
        self.facade: CheckoutFacade | None = None
        self.start_error: CheckoutError | None = None
        self.selected_order: str | None = None
        stack.on_server_event(self._server_event_later)

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield NumbersBar(id="numbers")
        yield Static(id="too-small")
        with Container(id="dashboard-body"):
            with Vertical(id="orders-pane"):
                yield FilterBar(id="filters")
                yield OrdersTable(self.book, id="orders")
            with TabbedContent(id="tabs", initial="detail"):
                with TabPane("Detail", id="detail"):
                    yield OrderDetail(id="order-detail", clock=self.clock)
                with TabPane("Faults", id="faults"):
                    yield FaultsPanel(
                        request_timeout_seconds=self.settings.nats.request_timeout_seconds,
                        read_only=self.read_only,
                        id="faults-panel",
                    )
                with TabPane("Services", id="services"):
                    yield ServicesPanel(self.settings.catalogue, read_only=self.read_only, id="services-panel")
                with TabPane("Log", id="log"):
                    yield EventLog(id="event-log")
                with TabPane("Charts", id="charts"):
                    yield ChartsPanel(self.history, id="charts-panel")
                with TabPane("Scenarios", id="scenarios"):
                    yield ScenariosPanel(read_only=self.read_only, id="scenarios-panel")
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
        self.charts_panel = self.query_one(ChartsPanel)
        self.scenarios_panel = self.query_one(ScenariosPanel)
        self.status_line.read_only = self.read_only
        self._apply_keymap()
        self._layout_for(self.size)
        self.status_line.phase = "starting servers…" if self.owns_stack else "connecting…"
        self.orders_table.focus()
        self.set_interval(TICK_SECONDS, self._apply_pending)
        self.set_interval(self.dashboard.refresh_seconds, self._tick)
        self._start_stack()
        self.list_scenarios()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only: the write actions have no binding (not in the footer, their keys do nothing)."""
        return not (self.read_only and action in WRITE_ACTIONS)

    def on_resize(self, event: events.Resize) -> None:
        if hasattr(self, "body"):
            self._layout_for(event.size)  # self.size is still the previous size here

    def _layout_for(self, size: Size) -> None:
        self.body.set_class(size.width >= WIDE, "-wide")
        too_small = size.width < SMALLEST.width or size.height < SMALLEST.height
        self.set_class(too_small, "-too-small")
        if too_small:
            self.query_one("#too-small", Static).update(
                f"Make the terminal larger: the dashboard needs {SMALLEST.width}x{SMALLEST.height},"
                f" this one is {size.width}x{size.height}. q quits."
            )

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
        self.status_line.web_ui = self.facade.web_ui_url() or ""
        self.services_panel.catalogue = self.facade.catalogue
        self.follow_events()
        self.reconcile(initial=True)
        self.refresh_now()

    def _server_event_later(self, event: ServerEvent) -> None:
        self.call_later(self._server_event, event)

    def _server_event(self, event: ServerEvent) -> None:
        """A supervised embedded server exited or came back (the supervisor has logged it)."""
        if not self.stopping:
            title = "Server restarted" if not event.is_problem else "Server down"
            self.say(event.message, title=title, severity="error" if event.is_problem else "information", timeout=10)

    @on(StackFailed)
    def _stack_failed(self, message: StackFailed) -> None:
        self.start_error = message.error
        self.status_line.phase = f"{message.error.title}: {message.error.message} (q quits)"
        self.say(message.error.message, title=message.error.title, severity="error", timeout=30)

    async def action_quit(self) -> None:
        """q, ctrl+q, the palette: with orders in flight, says how many and what becomes of them,
        and asks once (`dashboard.confirm_quit`); asked again while asking, it quits."""
        in_flight = self.book.counts().in_flight
        if self.stopping or not self.dashboard.confirm_quit or not in_flight:
            await self.quit_now()
            return
        if isinstance(self.screen, QuitScreen):
            self.screen.dismiss(True)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.call_later(self.quit_now)

        self.push_screen(QuitScreen(in_flight, self._after_quit(in_flight)), answered)

    def _after_quit(self, in_flight: int) -> str:
        one = in_flight == 1
        if self.owns_stack and self.stack.runs_worker:
            queue = self.settings.temporal.task_queue
            return (
                f"This dashboard's worker stops with it: {'it waits' if one else 'they wait'} for the next "
                f"worker on task queue {queue} (checkout worker, or the dashboard again), unless another "
                "one polls it. Nothing is lost."
            )
        return f"This dashboard runs no worker: {'it goes' if one else 'they go'} on in the cluster's workers."

    async def quit_now(self) -> None:
        """Quit without asking (also what SIGTERM and a hang-up do): stop what the dashboard started."""
        if self.stopping:
            self._exit_with(self._exit_code())  # a second q does not wait
            return
        self.stopping = True
        clear_faults = self.abandon_scenario()  # a run going: its faults go with it
        for group in ("events", "health", "refresh", "reconcile", "detail", "stack", "scenario"):
            self.workers.cancel_group(self, group)
        if self.owns_stack or clear_faults:
            self.status_line.phase = "stopping…"
            self._stop_stack(clear_faults)
        else:
            self._exit_with(self._exit_code())

    @work(exclusive=True, group="stopping", exit_on_error=False)
    async def _stop_stack(self, clear_faults: bool = False) -> None:
        try:
            if clear_faults:
                await self.clear_scenario_faults()
            if self.owns_stack:
                await self.stack.stop()
        except Exception as error:  # the app is going away: say it on the way out, do not crash
            self.log.error(f"stopping the stack: {error!r}")
        self._exit_with(self._exit_code())

    def _exit_with(self, code: int) -> None:
        self.exit(code, return_code=code)

    def _exit_code(self) -> int:
        return self.start_error.exit_code if self.start_error else 0

    # --- events: buffered by the feed, applied in batches by a timer --------------------------

    def _apply_pending(self) -> None:
        """Fold the feed's batch (when one is due) into the order book, then redraw what changed, once."""
        batch = self.feed.take()
        if batch is None:
            if self.numbers_bar.catching_up and not self.feed.catching_up:
                self._show_numbers()  # the replay has settled: the numbers are right now
            return
        started = time.perf_counter()
        result = self.book.apply(batch)
        self.orders_table.apply_batch(result)
        failed = []
        for order_id in result.status_changed:
            row = self.book.orders[order_id]
            if row.status is OrderStatus.TERMINATED:
                self.event_log.add_note(order_id, terminated_line(order_id, row.finished_at))
            elif row.status is OrderStatus.FAILED and row.reason is None and row.last_error is None:
                failed.append(order_id)
        self.explain_failures(failed)
        events = [item for item in batch if isinstance(item, StepEvent)]
        if events:
            self.event_log.add_events(events)
            self.metrics.events += len(events)
            oldest = min(event.time for event in events)
            if (self.clock() - oldest).total_seconds() < 10:  # live, not a replay of history
                self.call_after_refresh(self._measure_lag, oldest, self.feed.batch_buffered_at)
        if self.selected_order and self.selected_order in result.touched:
            self.fold_into_detail(events)
            self.request_detail(self.selected_order)  # a step event or a listing changed it
        if self.select_when_shown and self.orders_table.select_order(self.select_when_shown):
            self.select_when_shown = None
        self._show_numbers()
        self.filter_bar.show_count(self.orders_table.row_count, len(self.book.orders))
        self.metrics.batches += 1
        self.metrics.largest_batch = max(self.metrics.largest_batch, len(batch))
        self.metrics.slowest_batch_ms = max(self.metrics.slowest_batch_ms, (time.perf_counter() - started) * 1000)

    def _measure_lag(self, oldest: datetime, buffered_at: float | None) -> None:
        """After the redraw: how long the oldest event of the batch took from happening to the screen,
        and from reaching the dashboard to the screen."""
        self.metrics.lag_ms.append(max(0.0, (self.clock() - oldest).total_seconds() * 1000))
        if buffered_at is not None:
            self.metrics.screen_ms.append((self.feed.monotonic() - buffered_at) * 1000)

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
                bulk=self.bulk_progress(),
            ),
            catching_up=self.feed.catching_up,
        )
        if self.owns_stack and not self.feed.catching_up and not self.stopping:
            self.stack.start_helpers()  # after the first full screen: they would slow it down

    # --- once a second: ages, numbers, health, services, faults; orders from Temporal ---------

    def _tick(self) -> None:
        self.orders_table.tick_ages()
        self._show_numbers()
        if self.detail_view.is_live:
            self.detail_view.redraw()  # ages and the hold countdown
        self.history.tick(time.monotonic(), self.book.counts())
        self.charts_panel.redraw()
        self.sync_tick()

    @on(FailureExplained)
    def _failure_explained(self, message: FailureExplained) -> None:
        row = self.book.orders.get(message.order_id)
        if row is not None:
            row.last_error = message.text
            self.orders_table.apply_batch(BatchResult(changed={message.order_id}))

    @on(ActionDone)
    def _action_done(self, message: ActionDone) -> None:
        self.say(message.text, title=message.title, severity=message.severity)
        if message.order_id is not None and message.order_id == self.selected_order:
            self.request_detail(message.order_id)
        if message.refresh:
            self.refresh_now()
        if message.select is not None:
            self.show_order(message.select)
