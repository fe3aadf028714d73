"""The operator dashboard: one screen over a `Stack` (embedded servers, worker, services) or a cluster.

All I/O goes through `stack.facade` (a `CheckoutFacade`) in workers that post typed
messages. Step events are buffered and folded into the order book and onto the
screen in one batch every `dashboard.batch_ms`, so a busy worker in the same process
does not starve the UI; nothing polls Temporal per order.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.message import Message
from textual.widgets import Footer, Input, Select, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from engine.config import Settings
from engine.errors import CheckoutError
from engine.facade import CheckoutFacade
from engine.models import (
    FaultSettings,
    Health,
    OrderInput,
    OrderStatus,
    OrderSummary,
    SagaState,
    ServiceName,
    ServicesSnapshot,
    StepEvent,
)
from tui.commands import DashboardCommands, PaletteCommand
from tui.config import DashboardSettings, dashboard_settings
from tui.format import one_line
from tui.keys import BINDINGS
from tui.presets import PRESETS, describe, describe_preset
from tui.screens.bulk_submit import BulkSubmitScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.new_order import NewOrderScreen
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
APPLY_TICK = 0.05
CONGESTED_SECONDS = 0.02
MAX_APPLY_INTERVAL = 0.5
STALE_SLACK_SECONDS = 2  # clocks of worker, Temporal and dashboard may differ a little
STALE_GRACE_SECONDS = 5
BUSY_EVENTS_PER_SECOND = 30  # about 3 sagas per second: beyond, redraws are spaced 1.5 × batch_ms
TABS = ("detail", "faults", "services", "log")


class StackLike(Protocol):
    facade: Any

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Metrics:
    """What the dashboard measures about itself (exposed for tests and `checkout bench`)."""

    events: int = 0
    batches: int = 0
    largest_batch: int = 0
    slowest_batch_ms: float = 0.0
    lag_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    """Per batch of live events: from its oldest event's time to the screen redrawn."""


class CheckoutApp(App[int]):
    """The dashboard. `stack` is started on mount (when `owns_stack`) and stopped on quit."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "checkout-ops"
    COMMANDS = App.COMMANDS | {DashboardCommands}

    BINDINGS = BINDINGS

    # --- messages the dashboard's workers post ------------------------------------------------

    class StackStarted(Message):
        pass

    class StackFailed(Message):
        def __init__(self, error: CheckoutError) -> None:
            super().__init__()
            self.error = error

    class Refreshed(Message):
        def __init__(
            self,
            health: Health,
            snapshot: ServicesSnapshot | None,
            faults: dict[ServiceName, FaultSettings] | None,
            problems: list[str],
        ) -> None:
            super().__init__()
            self.health = health
            self.snapshot = snapshot
            self.faults = faults
            self.problems = problems

    class DetailLoaded(Message):
        def __init__(self, order_id: str, saga: SagaState | None, error: str | None) -> None:
            super().__init__()
            self.order_id = order_id
            self.saga = saga
            self.error = error

    # --- life cycle ----------------------------------------------------------------------

    def __init__(self, stack: StackLike, *, owns_stack: bool = True, clock: Clock = utc_now) -> None:
        self.stack = stack
        self.owns_stack = owns_stack
        self.settings: Settings = getattr(stack, "settings", None) or stack.facade.settings
        self.dashboard: DashboardSettings = dashboard_settings(self.settings.dashboard)
        super().__init__()
        if self.dashboard.theme:
            self.theme = self.dashboard.theme
        self.clock = clock
        self.book = OrderBook(clock=clock, max_orders=self.dashboard.max_rows)
        self.metrics = Metrics()
        self.notices: deque[tuple[str, str, str]] = deque(maxlen=200)  # (severity, title, message)
        self.facade: CheckoutFacade | None = None
        self.start_error: CheckoutError | None = None
        self.selected_order: str | None = None
        self.events_problem = ""
        self.refresh_problems: list[str] = []
        self.stopping = False
        self._pending: list[StepEvent | OrderSummary] = []
        self._last_event_time: datetime | None = None
        self._last_apply = 0.0
        self._last_tick = 0.0
        self._lateness = 0.0  # seconds, smoothed
        self._event_rate = 0.0  # step events per second, smoothed
        self._events_attempt: float | None = None  # when the current subscription attempt began
        self._nats_was_up: bool | None = None
        self._started_at: datetime = clock()
        self._select_when_shown: str | None = None
        self._detail_loading: str | None = None
        self._detail_again = False
        self._refresh_worker: Worker | None = None
        self._reconcile_worker: Worker | None = None
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
        self.set_interval(APPLY_TICK, self._apply_pending)
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
            self.notify(f"dashboard.keymap: unknown binding ids {', '.join(unknown)}", severity="warning")
        self.set_keymap({key: value for key, value in keymap.items() if key in known})

    @work(exclusive=True, group="stack", exit_on_error=False)
    async def _start_stack(self) -> None:
        try:
            if self.owns_stack:
                await self.stack.start()
        except CheckoutError as error:
            self.post_message(self.StackFailed(error))
            return
        self.post_message(self.StackStarted())

    def on_checkout_app_stack_started(self, _: StackStarted) -> None:
        self.facade = self.stack.facade
        self.status_line.phase = ""
        self.services_panel.catalogue = self.facade.catalogue
        self._follow_events()
        self._reconcile(initial=True)
        self._refresh()

    def on_checkout_app_stack_failed(self, message: StackFailed) -> None:
        self.start_error = message.error
        self.status_line.phase = f"{message.error.title}: {message.error.message} (q quits)"
        self.notify(message.error.message, title=message.error.title, severity="error", timeout=30)

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

    # --- events: buffered by the worker, applied in batches by a timer --------------------

    def _replay_hours(self) -> float | None:
        if self._last_event_time is not None:
            behind = (self.clock() - self._last_event_time).total_seconds()
            return max(behind, 0.0) / 3600 + 1 / 60  # a minute of overlap: applying twice changes nothing
        return self.dashboard.replay_hours or None

    @work(exclusive=True, group="events", exit_on_error=False, name="events")
    async def _follow_events(self) -> None:
        assert self.facade is not None
        backoff = 0.5
        while True:
            self._events_attempt = time.monotonic()
            try:
                async for event in self.facade.events(since_hours=self._replay_hours()):
                    self._pending.append(event)
                    if self.events_problem:
                        self.events_problem = ""
                        backoff = 0.5
                problem = "event stream ended"
            except CheckoutError as error:
                problem = error.message
            except Exception as error:  # the stream's library failed: reconnect, never crash
                problem = f"event stream: {one_line(str(error)) or type(error).__name__}"
            self.events_problem = f"{problem}; reconnecting"
            self._events_attempt = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _apply_pending(self) -> None:
        """Apply every buffered event and summary, then redraw what changed, once.

        Runs every `batch_ms`; while events pour in (a busy worker), every 1.5 × `batch_ms`,
        since a redraw of the orders table costs the same for one change or a hundred; and
        when the event loop runs late, up to every `MAX_APPLY_INTERVAL`."""
        now = time.monotonic()
        late = max(0.0, now - self._last_tick - APPLY_TICK) if self._last_tick else 0.0
        self._last_tick = now
        self._lateness = 0.8 * self._lateness + 0.2 * late  # how late the loop runs our timer, smoothed
        if not self._pending:
            return
        interval = self.dashboard.batch_ms / 1000
        if self._event_rate > BUSY_EVENTS_PER_SECOND:
            interval *= 1.5
        if self._lateness > CONGESTED_SECONDS:
            # The loop is saturated (a worker in this process under heavy load): redraw less,
            # leaving the time to the worker; sagas timing out would be worse than a slower screen.
            interval = min(MAX_APPLY_INTERVAL, interval * (1 + self._lateness / CONGESTED_SECONDS))
        if now - self._last_apply < interval * 0.95:
            return
        elapsed, self._last_apply = now - self._last_apply, now
        started = time.perf_counter()
        batch, self._pending = self._pending, []
        result = self.book.apply(batch)
        self.orders_table.apply_batch(result)
        events = [item for item in batch if isinstance(item, StepEvent)]
        weight = min(1.0, elapsed)
        self._event_rate = (1 - weight) * self._event_rate + weight * len(events) / max(elapsed, 1e-3)
        if events:
            oldest = min(event.time for event in events)
            newest = max(event.time for event in events)
            if self._last_event_time is None or newest > self._last_event_time:
                self._last_event_time = newest
            self.event_log.add_events(events)
            self.metrics.events += len(events)
            if (self.clock() - oldest).total_seconds() < 10:  # live, not a replay of history
                self.call_after_refresh(self._measure_lag, oldest)

        if self.selected_order and self.selected_order in result.touched:
            self._request_detail(self.selected_order)  # a step event or a listing changed it
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

    # --- once a second: ages, numbers, health, services, faults -------------------------------

    def _tick(self) -> None:
        self.orders_table.tick_ages()
        self._show_numbers()
        if self.detail_view.is_live:
            self.detail_view.redraw(layout=False)  # ages and the hold countdown only
        if self.facade is None or self.stopping:
            return
        if self._refresh_worker is None or self._refresh_worker.is_finished:
            self._refresh()
        due = time.monotonic() - self._last_reconcile >= self.dashboard.reconcile_seconds
        if due and (self._reconcile_worker is None or self._reconcile_worker.is_finished):
            self._reconcile()

    def _refresh(self) -> None:
        self._refresh_worker = self._read_health()

    @work(group="refresh", exit_on_error=False)
    async def _read_health(self) -> None:
        assert self.facade is not None
        facade = self.facade
        problems: list[str] = []

        async def guarded(call, what: str):
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
        self.post_message(self.Refreshed(health or Health(), snapshot, faults, problems))

    def on_checkout_app_refreshed(self, message: Refreshed) -> None:
        self.refresh_problems = message.problems
        status = self.status_line
        status.health = message.health
        if message.health.nats and self._nats_was_up is False:
            self._resubscribe("NATS is back: resubscribing to step events")
        self._nats_was_up = message.health.nats
        attempt = self._events_attempt
        if self.events_problem and message.health.nats and attempt is not None and time.monotonic() - attempt > 2:
            self.events_problem = ""  # resubscribed a while ago and not failed since: quiet, not broken
        problems = [self.events_problem] if self.events_problem else []
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
            if initial:
                self._last_reconcile = 0.0  # try the full listing again at the next tick
            return
        self._pending.extend(reversed(summaries))  # oldest first: table order follows start order
        if not initial and self._events_look_stale(summaries):
            self._resubscribe("no step events while orders finish: resubscribing")

    def _events_look_stale(self, summaries: list[OrderSummary]) -> bool:
        """Temporal saw orders finish well after the last step event: the subscription went quiet.

        (Completed and compensated orders always publish a final event.) The engine's
        subscription outlives a NATS restart, but not one that comes back with an empty store:
        it then waits for stream sequence numbers the new stream has yet to reach."""
        seen = max(filter(None, (self._last_event_time, self._started_at)))
        after = seen + timedelta(seconds=STALE_SLACK_SECONDS)  # its final event would be newer than any seen
        before = self.clock() - timedelta(seconds=STALE_GRACE_SECONDS)  # and has had time to arrive
        return any(
            summary.closed_at is not None
            and summary.status in (OrderStatus.COMPLETED, OrderStatus.COMPENSATED)
            and after < summary.closed_at < before
            for summary in summaries
        )

    def _resubscribe(self, why: str) -> None:
        """Start the event subscription again, replaying from the last event seen (nothing lost)."""
        if self.facade is None or self.stopping:
            return
        self.log.warning(why)
        self.workers.cancel_group(self, "events")
        self._follow_events()

    # --- selection and detail -----------------------------------------------------------------

    @on(OrdersTable.SelectionChanged)
    def _selection_changed(self, message: OrdersTable.SelectionChanged) -> None:
        if message.order_id == self.selected_order:
            return
        self.selected_order = message.order_id
        detail = self.detail_view
        if message.order_id is None:
            detail.show(None)
            return
        web_url = self.facade.web_ui_url(message.order_id) if self.facade else None
        detail.show(message.order_id, None, web_url=web_url)
        self._request_detail(message.order_id)

    @on(OrdersTable.Chosen)
    def _row_chosen(self) -> None:
        self.action_show_tab("detail")

    def _request_detail(self, order_id: str) -> None:
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
            self.post_message(self.DetailLoaded(order_id, None, error.message))
        except TimeoutError:
            self.post_message(
                self.DetailLoaded(order_id, None, f"no answer in {CALL_TIMEOUT:g}s (is a worker running?)")
            )
        else:
            self.post_message(self.DetailLoaded(order_id, saga, None))

    def on_checkout_app_detail_loaded(self, message: DetailLoaded) -> None:
        if self._detail_loading == message.order_id:
            self._detail_loading = None
        if message.order_id != self.selected_order:
            return
        detail = self.detail_view
        saga = message.saga or (detail.saga if detail.order_id == message.order_id else None)
        web_url = self.facade.web_ui_url(message.order_id) if self.facade else None
        detail.show(message.order_id, saga, error=message.error, web_url=web_url)
        if self._detail_again:
            self._request_detail(message.order_id)

    def show_order(self, order_id: str) -> None:
        """Select `order_id` in the table (clearing filters that hide it) and show its detail."""
        table = self.orders_table
        if not table.shown(order_id) and order_id in self.book.orders:
            self.filter_bar.clear()
            table.set_filter(StatusFilter.ALL, "")
        if not table.select_order(order_id):
            self._select_when_shown = order_id
        self.action_show_tab("detail")

    # --- submitting ---------------------------------------------------------------------------

    async def submit(self, order: OrderInput) -> None:
        """Submit through the facade; the order shows in the table at once, before its first event."""
        if self.facade is None:
            raise CheckoutError("not connected yet")
        await self.facade.submit(order)
        self._pending.append(
            OrderSummary(
                order_id=order.order_id,
                customer_id=order.customer_id,
                total_cents=order.total_cents,
                status=OrderStatus.RUNNING,
                started_at=self.clock(),
            )
        )

    def _need_facade(self) -> bool:
        if self.facade is None:
            self.notify("Not connected yet: the servers are starting", severity="warning")
            return False
        return True

    def action_new_order(self) -> None:
        if not self._need_facade():
            return
        assert self.facade is not None

        def submitted(order: OrderInput | None) -> None:
            if order is not None:
                self.notify(f"Order {order.order_id} submitted", title="New order")
                self.show_order(order.order_id)

        self.push_screen(
            NewOrderScreen(self.facade.catalogue, self.submit, customer=self.dashboard.customer), submitted
        )

    def action_bulk_submit(self) -> None:
        if not self._need_facade():
            return
        assert self.facade is not None

        def closed(order_ids: list[str] | None) -> None:
            if order_ids:
                self.notify(f"{len(order_ids)} orders submitted", title="Bulk submit")

        screen = BulkSubmitScreen(
            self.facade.catalogue,
            self.submit,
            self.book.is_terminal,
            count=self.dashboard.bulk_count,
            rate=self.dashboard.bulk_rate,
        )
        self.push_screen(screen, closed)

    # --- cancel and terminate -----------------------------------------------------------------

    def _selected_for(self, verb: str) -> str | None:
        if not self._need_facade():
            return None
        if self.selected_order is None:
            self.notify(f"Select an order to {verb} first", severity="warning")
            return None
        return self.selected_order

    def action_cancel_order(self) -> None:
        order_id = self._selected_for("cancel")
        if order_id is None:
            return
        row = self.book.orders.get(order_id)
        if row is not None and row.status.is_terminal:
            self.notify(f"Order {order_id} already finished: {row.status.value}", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel(order_id)

        self.push_screen(
            ConfirmScreen(
                f"Cancel order {order_id}?",
                "The order compensates: payment refunded, stock returned.\nAccepted until the order starts shipping.",
                confirm="Cancel order",
                keep="Keep",
            ),
            answered,
        )

    @work(group="operate", exit_on_error=False)
    async def _cancel(self, order_id: str) -> None:
        assert self.facade is not None
        result = await self.facade.cancel(order_id)
        if result.accepted:
            self.notify(f"Order {order_id}: cancel accepted ({result.reason})", title="Cancel")
        else:
            self.notify(f"Order {order_id}: cancel rejected: {result.reason}", title="Cancel", severity="warning")
        if order_id == self.selected_order:
            self._request_detail(order_id)

    def action_terminate_order(self) -> None:
        order_id = self._selected_for("terminate")
        if order_id is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._terminate(order_id)

        self.push_screen(
            ConfirmScreen(
                f"Terminate order {order_id}?",
                "Terminate stops the workflow at once. A charged card is not refunded and "
                "reserved stock is not returned. Use Cancel to undo an order safely.",
                confirm="Terminate (unsafe)",
                keep="Keep running",
                unsafe=True,
            ),
            answered,
        )

    @work(group="operate", exit_on_error=False)
    async def _terminate(self, order_id: str) -> None:
        assert self.facade is not None
        await self.facade.terminate(order_id, "terminated from the dashboard")
        self.orders_table.apply_batch(self.book.mark_terminated(order_id))
        self.notify(f"Order {order_id} terminated: no compensation ran", title="Terminate", severity="warning")
        if order_id == self.selected_order:
            self._request_detail(order_id)

    # --- faults -------------------------------------------------------------------------------

    @on(FaultsPanel.Changed)
    def _fault_changed(self, message: FaultsPanel.Changed) -> None:
        self._set_faults({message.service: message.settings}, f"{message.service.value}: {describe(message.settings)}")

    @on(FaultsPanel.PresetChosen)
    def _preset(self, message: FaultsPanel.PresetChosen) -> None:
        self.apply_preset(message.name)

    def apply_preset(self, name: str) -> None:
        if self._need_facade():
            self._set_faults(PRESETS[name], f"preset {name!r} applied")

    @on(FaultsPanel.ResetRequested)
    def action_reset_faults(self) -> None:
        if self._need_facade():
            self._clear_faults()

    @work(group="faults", exit_on_error=False)
    async def _set_faults(self, faults: dict[ServiceName, FaultSettings], what: str) -> None:
        assert self.facade is not None
        for service, settings in faults.items():
            await self.facade.set_faults(service, settings)
        self.notify(what, title="Faults")
        self._refresh()

    @work(group="faults", exit_on_error=False)
    async def _clear_faults(self) -> None:
        assert self.facade is not None
        await self.facade.clear_faults()
        self.notify("every fault cleared", title="Faults")
        self._refresh()

    # --- filters, sort, tabs, help -----------------------------------------------------------

    @on(FilterBar.Changed)
    def _filter_changed(self, message: FilterBar.Changed) -> None:
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
        table = self.orders_table
        table.set_sort(table.sort_mode.next())
        self.filter_bar.show_sort(table.sort_mode)

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

    def palette_commands(self) -> Iterable[PaletteCommand]:
        yield PaletteCommand("New order", "Open the new order form", self.action_new_order)
        yield PaletteCommand("Bulk submit", "Submit N orders at R per second", self.action_bulk_submit)
        if self.selected_order:
            order = self.selected_order
            yield PaletteCommand(f"Cancel order {order}", "Compensates: refund and restock", self.action_cancel_order)
            yield PaletteCommand(
                f"Terminate order {order} (unsafe)", "No compensation runs", self.action_terminate_order
            )
        for name in PRESETS:
            yield PaletteCommand(
                f"Fault preset: {name}", describe_preset(name), lambda name=name: self.apply_preset(name)
            )
        yield PaletteCommand("Reset all faults", "Every endpoint back to no faults", self.action_reset_faults)
        for label, status in (
            ("all orders", StatusFilter.ALL),
            ("in flight", StatusFilter.IN_FLIGHT),
            ("compensating", StatusFilter.COMPENSATING),
            ("completed", StatusFilter.COMPLETED),
            ("compensated", StatusFilter.COMPENSATED),
            ("failed or terminated", StatusFilter.FAILED),
        ):
            yield PaletteCommand(
                f"Show {label}", "Status filter of the orders table", lambda s=status: self.set_status_filter(s)
            )
        for mode in SortMode:
            yield PaletteCommand(f"Sort by {mode.value}", "Order of the orders table", lambda m=mode: self.set_sort(m))
        for tab in TABS:
            yield PaletteCommand(f"Show {tab}", f"The {tab} tab", lambda t=tab: self.action_show_tab(t))
        yield PaletteCommand("Help", "Keys and panels", self.action_help)
        yield PaletteCommand("Quit", "Stop everything the dashboard started", self.action_quit)

    # --- one place where failures become notifications ----------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Literal["information", "warning", "error"] = "information",
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
            self.notify(error.message, title=error.title, severity="error")
        else:
            self.notify(one_line(f"{type(error).__name__}: {error}"), title="Unexpected error", severity="error")
        self.log.error(f"worker {event.worker.name} failed: {error!r}")


@contextmanager
def logging_to(path: Path) -> Iterator[None]:
    """Log records go to `path` while the dashboard owns the terminal (stderr would draw over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    saved, root.handlers = root.handlers, [handler]
    try:
        yield
    finally:
        root.handlers = saved
        handler.close()


def run_dashboard(settings: Settings, attach: bool = False) -> int:
    """`checkout dashboard [--attach]`: run the app over a Stack it owns; returns the exit code."""
    from engine.stack import Stack

    try:
        dashboard_settings(settings.dashboard)
    except CheckoutError as error:
        print(error.message, file=sys.stderr)
        return error.exit_code
    stack = Stack(settings, worker=not attach, services=not attach)
    app = CheckoutApp(stack, owns_stack=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(signum, lambda: app.call_later(app.action_quit))
            except (NotImplementedError, RuntimeError):
                pass
        try:
            await app.run_async()
        finally:
            await stack.stop()  # idempotent: also covers a crash or an exit before the quit action

    try:
        with logging_to(settings.embedded.data_dir / "logs" / "dashboard.log"):
            asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    if app.start_error is not None:
        print(f"{app.start_error.title}: {app.start_error.message}", file=sys.stderr)
    return app.return_code or 0
