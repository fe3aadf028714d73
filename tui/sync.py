"""What the dashboard reads from the servers, in workers that post typed messages.

A base of the dashboard App: the event feed's subscription (and resubscribing when it went
quiet or NATS came back), health, services and faults every `refresh_seconds`, the orders
Temporal knows every `reconcile_seconds`, and the selected order's saga for the Detail.

Health is read on its own, never behind a slow read of services or faults, so that a part that
stops answering is named within 2 s; each part going down or coming back is a notification and
a line in the log (`tui.health`). While NATS does not answer, the failures of the reads over it
are its consequence, not news: the status line names NATS alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from textual import on, work
from textual.worker import Worker

from engine.config import Settings
from engine.errors import CheckoutError, FaultsDisabled
from engine.facade import CheckoutFacade
from engine.models import FaultSettings, Health, SagaState, ServiceName, StepEvent
from tui.config import DashboardSettings
from tui.feed import STALE_GRACE_SECONDS, STALE_SLACK_SECONDS, EventFeed
from tui.health_watch import HealthWatch
from tui.history import History
from tui.live_saga import fold
from tui.messages import DetailLoaded, FailureExplained, HealthRead, OrdersListed, Refreshed
from tui.notices import Notices
from tui.state import Clock
from tui.widgets.faults_panel import FaultsPanel
from tui.widgets.order_detail import OrderDetail
from tui.widgets.services_panel import ServicesPanel
from tui.widgets.status_line import StatusLine

CALL_TIMEOUT = 5.0
HEALTH_TIMEOUT = 1.5  # each probe answers within a second (engine.operations); this is the read's bound
# A later listing reaches back this far past the last one: clocks may differ a little, and an order
# closed without its final event must still be listed once the feed's grace has passed.
LISTING_OVERLAP = timedelta(seconds=STALE_SLACK_SECONDS + STALE_GRACE_SECONDS)
MAX_EXPLAINED = 20  # failed orders explained per batch (each is one call)
T = TypeVar("T")
health_log = logging.getLogger("tui.health")


class ServerSync(Notices):
    # Set by the dashboard App.
    settings: Settings
    facade: CheckoutFacade | None
    feed: EventFeed
    dashboard: DashboardSettings
    selected_order: str | None
    status_line: StatusLine
    faults_panel: FaultsPanel
    services_panel: ServicesPanel
    detail_view: OrderDetail
    history: History
    clock: Clock

    def __init__(self) -> None:
        super().__init__()
        self._nats_was_up: bool | None = None
        self._detail_loading: str | None = None
        self._detail_again = False
        self._events_since_asked: list[StepEvent] = []  # the selected order's, since its state was asked for
        self._refresh_worker: Worker[None] | None = None
        self._health_worker: Worker[None] | None = None
        self.health_watch = HealthWatch(self.settings.temporal.task_queue)
        self._read_problems: list[str] = []  # of the last read of services and faults
        self._reconcile_worker: Worker[None] | None = None
        self._last_reconcile = 0.0
        self._listed_since: datetime | None = None  # when the last full listing was asked for

    def sync_tick(self) -> None:
        """Once a second: read what is due, unless the last read is still on its way."""
        if self.facade is None or self.stopping:
            return
        if self._health_worker is None or self._health_worker.is_finished:
            self._health_worker = self._read_health()
        if self._refresh_worker is None or self._refresh_worker.is_finished:
            self._refresh_worker = self._read_state()
        due = time.monotonic() - self._last_reconcile >= self.dashboard.reconcile_seconds
        if due and (self._reconcile_worker is None or self._reconcile_worker.is_finished):
            self.reconcile()

    # --- step events ----------------------------------------------------------------------

    def follow_events(self) -> None:
        assert self.facade is not None
        self.run_worker(self.feed.follow(self.facade.events), group="events", name="events", exit_on_error=False)

    def _resubscribe(self, why: str) -> None:
        """Start the event subscription again, replaying from the last event seen (nothing lost)."""
        if self.facade is None or self.stopping:
            return
        self.log.warning(why)
        self.workers.cancel_group(self, "events")
        self.follow_events()

    # --- health, services, faults; the orders Temporal knows ------------------------------------

    def refresh_now(self) -> None:
        self._health_worker = self._read_health()
        self._refresh_worker = self._read_state()

    @work(group="health", exit_on_error=False)
    async def _read_health(self) -> None:
        assert self.facade is not None
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                health = await self.facade.health()
        except (CheckoutError, TimeoutError):
            health = Health()
        self.post_message(HealthRead(health))

    @on(HealthRead)
    def _health_read(self, message: HealthRead) -> None:
        if self.stopping:  # the servers going away on purpose are no news
            return
        health = message.health
        self.status_line.health = health
        if health.nats and self._nats_was_up is False:
            self._resubscribe("NATS is back: resubscribing to step events")
        self._nats_was_up = health.nats
        if health.nats:
            self.feed.quiet_problem()
        for change in self.health_watch.update(health):
            if change.down:
                health_log.warning(change.message)
                self.say(change.message, title="Down", severity="error", timeout=10)
            else:
                health_log.info(change.message)
                self.say(change.message, title="Back", timeout=5)
        self._show_problems()

    def _show_problems(self) -> None:
        health = self.status_line.health
        down = list(health.down(self.settings.temporal.task_queue).values()) if health is not None else []
        if health is not None and not health.nats:
            problems = down  # the reads over NATS failed because of it
        else:
            problems = down + ([self.feed.problem] if self.feed.problem else []) + self._read_problems
        self.status_line.problem = "; ".join(dict.fromkeys(problems))

    @work(group="refresh", exit_on_error=False)
    async def _read_state(self) -> None:
        assert self.facade is not None
        facade = self.facade
        problems: list[str] = []

        async def guarded(call: Callable[[], Awaitable[T]], what: str) -> T | None:
            try:
                # A timeout scope, not wait_for: no inner task that a quit could leave with an
                # exception nobody reads (the connection closing under a cancelled call).
                async with asyncio.timeout(CALL_TIMEOUT):
                    return await call()
            except CheckoutError as error:
                problems.append(error.message)
            except TimeoutError:
                problems.append(f"{what}: no answer in {CALL_TIMEOUT:g}s")
            return None

        disallowed: list[str] = []

        async def faults() -> dict[ServiceName, FaultSettings] | None:
            try:
                return await facade.faults()
            except FaultsDisabled as error:  # not a problem: how this cluster is set up
                disallowed.append(error.message)
                return None

        snapshot, faults_in_force, pauses = await asyncio.gather(
            guarded(facade.services_snapshot, "services"),
            guarded(faults, "faults"),
            guarded(facade.pauses, "paused steps"),
        )
        refreshed = Refreshed(snapshot, faults_in_force, problems, next(iter(disallowed), None), pauses)
        self.post_message(refreshed)

    @on(Refreshed)
    def _refreshed(self, message: Refreshed) -> None:
        status = self.status_line
        self._read_problems = message.problems
        self._show_problems()
        if message.faults is not None or message.faults_disallowed:
            self.faults_panel.disallow(message.faults_disallowed)
        if message.pauses is not None:
            self.faults_panel.show_pauses(message.pauses)
        if message.faults is not None or message.pauses is not None:
            faulty = [service.value for service, settings in (message.faults or {}).items() if not settings.is_clear]
            paused = [f"{step.value} PAUSED" for step in self.faults_panel.pauses]
            status.faults = ", ".join(faulty + paused)
        if message.faults is not None:
            self.faults_panel.show(message.faults)
        if message.snapshot is not None:
            self.services_panel.show(message.snapshot)
            self.history.add_snapshot(message.snapshot)

    def reconcile(self, *, initial: bool = False) -> None:
        self._last_reconcile = time.monotonic()
        self._reconcile_worker = self._list_orders(initial)

    @work(group="reconcile", exit_on_error=False)
    async def _list_orders(self, initial: bool) -> None:
        """Orders Temporal knows, folded in like events (applying twice changes nothing).

        At start the newest `max_rows` rebuild the table. Later only the orders still running or
        closed since shortly before the last listing: they catch orders that publish no events
        (started with no worker polling, terminated from outside) and show a subscription gone
        quiet, without reading a thousand orders every time."""
        assert self.facade is not None
        asked = self.clock()
        changed_since = None if initial or self._listed_since is None else self._listed_since - LISTING_OVERLAP
        try:
            summaries = await asyncio.wait_for(
                self.facade.list_orders(
                    limit=self.dashboard.max_rows if changed_since is None else None, changed_since=changed_since
                ),
                CALL_TIMEOUT * 2,
            )
        except (CheckoutError, TimeoutError):
            summaries = None
        else:
            self._listed_since = asked
        self.post_message(OrdersListed(summaries, initial=initial))

    @on(OrdersListed)
    def _orders_listed(self, message: OrdersListed) -> None:
        self.feed.add_listing(message.summaries, limit=self.dashboard.max_rows if message.initial else None)
        if message.summaries is None:
            if message.initial:
                self._last_reconcile = 0.0  # try the full listing again at the next tick
            return
        if not message.initial and self.feed.looks_stale(message.summaries):
            self._resubscribe("no step events while orders finish: resubscribing")

    def explain_failures(self, order_ids: list[str]) -> None:
        for order_id in order_ids[:MAX_EXPLAINED]:
            self._explain_failure(order_id)

    @work(group="explain", exit_on_error=False)
    async def _explain_failure(self, order_id: str) -> None:
        """A FAILED order has no saga reason: reading its state says why it failed (one call per failed order)."""
        assert self.facade is not None
        try:
            await asyncio.wait_for(self.facade.state(order_id), CALL_TIMEOUT)
        except CheckoutError as error:
            text = error.message.removeprefix(f"order {order_id} failed before it started: ")
            self.post_message(FailureExplained(order_id, text))
        except TimeoutError:
            pass

    # --- the selected order's detail ----------------------------------------------------------

    def request_detail(self, order_id: str) -> None:
        """Load the saga state; while a load is on its way, remember to load once more after it."""
        if self.facade is None:
            return
        if self._detail_loading == order_id:
            self._detail_again = True
            return
        self._detail_loading = order_id
        self._detail_again = False
        self._events_since_asked = []
        self._load_detail(order_id)

    def fold_into_detail(self, events: list[StepEvent]) -> None:
        """The selected order's step events, shown in the Detail in the same batch as in the table."""
        order_id = self.selected_order
        mine = [event for event in events if event.order_id == order_id]
        if not mine or order_id is None:
            return
        self._events_since_asked.extend(mine)
        detail = self.detail_view
        if detail.order_id == order_id:
            detail.add_events(mine)
            if detail.saga is not None:
                detail.show(order_id, fold(detail.saga, mine), web_url=detail.web_url)

    @work(exclusive=True, group="detail", exit_on_error=False)
    async def _load_detail(self, order_id: str) -> None:
        assert self.facade is not None
        events = await self._order_events(order_id)
        try:
            saga = await asyncio.wait_for(self.facade.state(order_id), CALL_TIMEOUT)
        except CheckoutError as error:
            self.post_message(DetailLoaded(order_id, None, error.message, events))
        except TimeoutError:
            problem = f"no answer in {CALL_TIMEOUT:g}s (is a worker running?)"
            self.post_message(DetailLoaded(order_id, None, problem, events))
        else:
            self.post_message(DetailLoaded(order_id, saga, None, events))

    async def _order_events(self, order_id: str) -> list[StepEvent] | None:
        """The order's step history, read once per selection (later ones come live). Live events
        folded in before the read are no history: they came after the order's first steps."""
        if self.detail_view.order_id == order_id and self.detail_view.history_read:
            return None
        assert self.facade is not None
        try:
            return await asyncio.wait_for(self.facade.order_events(order_id), CALL_TIMEOUT)
        except (CheckoutError, TimeoutError):
            return None

    @on(DetailLoaded)
    def _detail_loaded(self, message: DetailLoaded) -> None:
        if self._detail_loading == message.order_id:
            self._detail_loading = None
        if message.order_id != self.selected_order:
            return
        detail = self.detail_view
        if message.saga is not None:  # the events that came after it was asked for are newer
            saga: SagaState | None = fold(message.saga, self._events_since_asked)
        else:
            saga = detail.saga if detail.order_id == message.order_id else None
        web_url = self.facade.web_ui_url(message.order_id) if self.facade else None
        detail.show(message.order_id, saga, error=message.error, web_url=web_url, events=message.events)
        if self._detail_again:
            self.request_detail(message.order_id)
