"""An in-memory CheckoutFacade: sagas run as asyncio tasks with short steps, for fast TUI tests.

It follows the engine's contracts closely enough for the dashboard (events per step,
compensations in reverse, cancel during the hold, faults per endpoint, stock changes,
an audit that reports what a terminate left behind), and it can be frozen (no tasks,
fixed times) for snapshot tests. `_typed` below makes mypy check it against
`CheckoutFacade`, the Protocol it stands in for.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

from engine.config import CatalogueItem, Settings
from engine.errors import FaultsDisabled, InvalidInput, OrderEnded, OrderNotFound, Unreachable
from engine.facade import CheckoutFacade
from engine.models import (
    CAUGHT_UP,
    COMPENSATION_OF,
    ENDPOINT_OF_STEP,
    FORWARD_STEPS,
    ORDER_STEP,
    AuditReport,
    CancelResult,
    CaughtUp,
    Discrepancy,
    EndpointStats,
    EventKind,
    FaultSettings,
    Health,
    LedgerTotals,
    OrderInput,
    OrderStatus,
    OrderSummary,
    Reason,
    SagaState,
    ServiceName,
    ServicesSnapshot,
    Step,
    StepEvent,
    StepPause,
    StepState,
    StepStatus,
    StockChange,
    parse_pausable_step,
)
from engine.services.faults import FAULTS_DISABLED
from engine.supervision import ServerListener

Clock = Callable[[], datetime]


class _Declined(Exception):
    def __init__(self, step: Step, reason: Reason) -> None:
        self.step = step
        self.reason = reason


class _Exhausted(Exception):
    def __init__(self, step: Step) -> None:
        self.step = step


class FakeFacade:
    def __init__(
        self,
        settings: Settings,
        *,
        step_seconds: float = 0.02,
        seed: int = 7,
        clock: Clock | None = None,
        submit_delay: float = 0.0,
        state_delay: float = 0.0,
        replay_delay: float = 0.0,
        list_delay: float = 0.0,
    ) -> None:
        """Delays that make the fake as slow as the real thing where a test needs it: `submit_delay`,
        the order exists at once and the caller hears back after it (a slow RPC); `state_delay`, before
        `state()` answers (a busy worker); `replay_delay`, between replayed events; `list_delay`,
        before `list_orders()` answers."""
        self.settings = settings
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.step_seconds = step_seconds
        self.submit_delay = submit_delay
        self.state_delay = state_delay
        self.replay_delay = replay_delay
        self.list_delay = list_delay
        self.random = random.Random(seed)
        self.states: dict[str, SagaState] = {}
        self.history: list[StepEvent] = []
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.cancels: dict[str, asyncio.Event] = {}
        self.effects: dict[str, set[Step]] = {}  # order -> steps whose effect landed (and not undone)
        self._subscribers: set[asyncio.Queue[StepEvent | None]] = set()
        self._faults = {service: FaultSettings() for service in ServiceName}
        self.faults_enabled = True  # False: answers as services with faults.enabled off do
        self.stock = {sku: item.stock for sku, item in settings.catalogue.items()}
        self.stock_changes: list[StockChange] = []
        self.ledger = LedgerTotals()
        self.requests: Counter[ServiceName] = Counter()
        self.errors: Counter[ServiceName] = Counter()
        self.declines: Counter[ServiceName] = Counter()
        self.health_now = Health(
            temporal=True,
            nats=True,
            worker=True,
            services={"inventory": True, "payment": True, "shipping": True},
        )
        self.extra_discrepancies: list[Discrepancy] = []
        self.failures: dict[str, str] = {}  # order -> why it failed before it started
        self.unreachable = False
        self.calls: list[str] = []
        self.listings: list[datetime | None] = []  # each list_orders call's `changed_since`
        self.paused: dict[Step, StepPause] = {}
        self._resumed: dict[Step, asyncio.Event] = {}

    # --- helpers for tests ---------------------------------------------------------------

    def _check(self) -> None:
        if self.unreachable:
            raise Unreachable("NATS and Temporal unreachable (fake)")

    def break_event_streams(self) -> None:
        """Every open events() iterator raises Unreachable, as when NATS goes away."""
        for queue in list(self._subscribers):
            queue.put_nowait(None)

    def silence_event_streams(self) -> None:
        """Every open events() iterator stops receiving, without an error (a dead subscription)."""
        self._subscribers.clear()

    def emit(self, event: StepEvent) -> None:
        self.history.append(event)
        for queue in list(self._subscribers):
            queue.put_nowait(event)

    def add_failed(self, order: OrderInput, started: datetime, why: str) -> None:
        """An order whose workflow failed before any step (e.g. invalid input): no events, no saga state."""
        state = SagaState(order=order, status=OrderStatus.FAILED, started_at=started, finished_at=started)
        self.states[order.order_id] = state
        self.failures[order.order_id] = why

    def add_finished(
        self, order: OrderInput, status: OrderStatus, started: datetime, reason: Reason | None = None
    ) -> None:
        """A saga that already ran, with fixed times (snapshot tests)."""
        state = SagaState(order=order, status=OrderStatus.RUNNING, started_at=started)
        self.states[order.order_id] = state
        moment = started
        self._event(state, ORDER_STEP, EventKind.STARTED, 1, moment)
        declined = (
            {Reason.CARD_DECLINED: Step.CHARGE, Reason.OUT_OF_STOCK: Step.RESERVE}.get(reason) if reason else None
        )
        done: list[Step] = []
        for step in FORWARD_STEPS:
            if status is OrderStatus.RUNNING and step is Step.HOLD:
                state.steps.append(StepState(name=step, status=StepStatus.RUNNING, attempts=1, started_at=moment))
                state.current_step = step
                state.hold_until = moment + timedelta(seconds=self.settings.saga.hold_seconds)
                self._event(state, step.value, EventKind.STARTED, 1, moment)
                return
            step_state = StepState(name=step, status=StepStatus.RUNNING, attempts=1, started_at=moment)
            state.steps.append(step_state)
            self._event(state, step.value, EventKind.STARTED, 1, moment)
            moment += timedelta(milliseconds=120 if step is not Step.HOLD else self.settings.saga.hold_seconds * 1000)
            step_state.finished_at = moment
            if step is declined and reason is not None:
                step_state.status = StepStatus.FAILED
                step_state.last_error = f"{reason.value}: declined by the service"
                self._event(state, step.value, EventKind.FAILED, 1, moment, error=step_state.last_error)
                break
            step_state.status = StepStatus.SUCCEEDED
            self._event(state, step.value, EventKind.SUCCEEDED, 1, moment)
            done.append(step)
        if status is OrderStatus.COMPENSATED:
            state.status = OrderStatus.COMPENSATING
            state.reason = reason
            for step in reversed(done):
                if step in COMPENSATION_OF:
                    comp = StepState(
                        name=COMPENSATION_OF[step],
                        compensation=True,
                        status=StepStatus.SUCCEEDED,
                        attempts=1,
                        started_at=moment,
                        finished_at=moment + timedelta(milliseconds=80),
                    )
                    state.steps.append(comp)
                    self._event(state, comp.name.value, EventKind.COMPENSATING, 1, moment)
                    moment += timedelta(milliseconds=80)
                    self._event(state, comp.name.value, EventKind.COMPENSATED, 1, moment)
        state.status = status
        state.finished_at = moment
        state.current_step = None
        kind = EventKind.SUCCEEDED if status is OrderStatus.COMPLETED else EventKind.COMPENSATED
        self._event(state, ORDER_STEP, kind, 1, moment)

    # --- the facade --------------------------------------------------------------------------

    @property
    def catalogue(self) -> dict[str, CatalogueItem]:
        return self.settings.catalogue

    async def submit(self, order: OrderInput) -> None:
        self._check()
        self.calls.append(f"submit {order.order_id}")
        if order.order_id in self.states:
            raise InvalidInput(f"order id {order.order_id} is already taken")
        state = SagaState(order=order, started_at=datetime.now(UTC))
        self.states[order.order_id] = state
        self.cancels[order.order_id] = asyncio.Event()
        self.tasks[order.order_id] = asyncio.create_task(self._run(state))
        if self.submit_delay:
            await asyncio.sleep(self.submit_delay)

    async def cancel(self, order_id: str) -> CancelResult:
        self._check()
        self.calls.append(f"cancel {order_id}")
        state = self._state(order_id)
        if state.status.is_terminal:
            return CancelResult(accepted=False, reason=f"order already {state.status.value.lower()}")
        if state.step(Step.SHIP) is not None:
            return CancelResult(accepted=False, reason="already shipping")
        state.cancel_requested = True
        self.cancels[order_id].set()
        return CancelResult(accepted=True, reason="compensating")

    async def terminate(self, order_id: str, reason: str) -> None:
        self._check()
        self.calls.append(f"terminate {order_id}")
        state = self._state(order_id)
        if state.status.is_terminal:
            raise OrderEnded(f"order {order_id} has already ended ({state.status.value})")
        task = self.tasks.get(order_id)
        if task:
            task.cancel()
        self.states[order_id] = state.terminated(datetime.now(UTC))

    async def state(self, order_id: str) -> SagaState:
        self._check()
        if order_id in self.failures:
            raise InvalidInput(f"order {order_id} failed before it started: {self.failures[order_id]}")
        if self.state_delay:
            await asyncio.sleep(self.state_delay)
        return self._state(order_id).model_copy(deep=True)

    async def result(self, order_id: str) -> SagaState:
        self._check()
        task = self.tasks.get(order_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        return self._state(order_id).model_copy(deep=True)

    def _state(self, order_id: str) -> SagaState:
        if order_id not in self.states:
            raise OrderNotFound(f"no order {order_id}")
        return self.states[order_id]

    async def list_orders(
        self,
        status: OrderStatus | None = None,
        limit: int | None = 1000,
        *,
        customer: str | None = None,
        since: datetime | None = None,
        changed_since: datetime | None = None,
    ) -> list[OrderSummary]:
        self._check()
        self.listings.append(changed_since)
        if self.list_delay:
            await asyncio.sleep(self.list_delay)
        rows = [
            OrderSummary(
                order_id=s.order.order_id,
                customer_id=s.order.customer_id,
                total_cents=s.order.total_cents,
                status=OrderStatus.RUNNING if s.status is OrderStatus.COMPENSATING else s.status,
                reason=s.reason,
                started_at=s.started_at,
                closed_at=s.finished_at,
                note=s.note,
            )
            for s in self.states.values()
        ]
        rows = [
            r
            for r in rows
            if (status is None or r.status is status)
            and (customer is None or r.customer_id == customer)
            and (since is None or (r.started_at is not None and r.started_at >= since))
            and (changed_since is None or r.closed_at is None or r.closed_at >= changed_since)
        ]
        rows.sort(key=lambda r: (r.started_at or datetime.min.replace(tzinfo=UTC), r.order_id), reverse=True)
        return rows[:limit]

    async def customer_filter_note(self) -> str | None:
        return None  # it filters in memory, as a cluster with the search attribute would in Temporal

    async def order_events(self, order_id: str) -> list[StepEvent]:
        self._check()
        return [event for event in self.history if event.order_id == order_id]

    async def events(self, since_hours: float | None = None) -> AsyncIterator[StepEvent | CaughtUp]:
        self._check()
        queue: asyncio.Queue[StepEvent | None] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            if since_hours is not None:
                horizon = self.clock() - timedelta(hours=since_hours)
                for event in list(self.history):
                    if event.time >= horizon:
                        if self.replay_delay:
                            await asyncio.sleep(self.replay_delay)
                        yield event
            yield CAUGHT_UP
            while True:
                live = await queue.get()
                if live is None:
                    raise Unreachable("lost the NATS connection (fake)")
                yield live
        finally:
            self._subscribers.discard(queue)

    def _check_faults(self) -> None:
        self._check()
        if not self.faults_enabled:
            raise FaultsDisabled(FAULTS_DISABLED)

    async def faults(self) -> dict[ServiceName, FaultSettings]:
        self._check_faults()
        return dict(self._faults)

    async def set_faults(self, service: ServiceName, settings: FaultSettings) -> None:
        self._check_faults()
        self.calls.append(f"set_faults {service.value}")
        self._faults[service] = settings

    async def clear_faults(self) -> None:
        self._check_faults()
        self.calls.append("clear_faults")
        self._faults = {service: FaultSettings() for service in ServiceName}

    async def pauses(self) -> dict[Step, StepPause]:
        self._check()
        return dict(self.paused)

    async def pause_step(self, step: Step | str, reason: str = "") -> StepPause:
        self._check()
        step = parse_pausable_step(step)
        self.calls.append(f"pause_step {step.value}")
        self.paused[step] = StepPause(step=step, reason=reason, since=self.clock())
        self._resumed.setdefault(step, asyncio.Event()).clear()
        return self.paused[step]

    async def resume_step(self, step: Step | str, rate: float = 10.0) -> int:
        self._check()
        step = parse_pausable_step(step)
        if step not in self.paused:
            raise InvalidInput(f"step {step.value} is not paused")
        self.calls.append(f"resume_step {step.value} {rate:g}")
        del self.paused[step]
        self._resumed[step].set()
        return sum(1 for state in self.states.values() if state.paused_before is step)

    async def _wait_if_paused(self, state: SagaState, step: Step, step_state: StepState) -> None:
        """As the workflow does: wait before a paused step's request (no rate: the fake releases all at once)."""
        if step not in self.paused:
            return
        state.paused_before, step_state.status = step, StepStatus.PAUSED
        self._event(state, step.value, EventKind.PAUSED, 1, error=self.paused[step].reason or None)
        await self._resumed[step].wait()
        state.paused_before, step_state.status = None, StepStatus.RUNNING
        self._event(state, step.value, EventKind.RELEASED, 1)

    async def services_snapshot(self) -> ServicesSnapshot:
        self._check()
        return ServicesSnapshot(
            stock=dict(self.stock),
            ledger=self.ledger.model_copy(),
            endpoints=[
                EndpointStats(
                    service=s.endpoint.service,
                    endpoint=s.value,
                    requests=self.requests[s],
                    errors=self.errors[s],
                    declines=self.declines[s],
                )
                for s in ServiceName
            ],
        )

    async def set_stock(self, sku: str, units: int) -> StockChange:
        self._check()
        self._known_sku(sku)
        if units < 0:
            raise InvalidInput(f"stock of {sku} cannot be negative ({units})")
        return self._change_stock(sku, units - self.stock.get(sku, 0))

    async def add_stock(self, sku: str, delta: int) -> StockChange:
        self._check()
        self._known_sku(sku)
        if self.stock.get(sku, 0) + delta < 0:
            raise InvalidInput(f"stock of {sku} would go below 0 ({self.stock.get(sku, 0)} {delta:+d})")
        return self._change_stock(sku, delta)

    def _known_sku(self, sku: str) -> None:
        if sku not in self.stock:
            raise InvalidInput(f"unknown SKU {sku!r}: one of {', '.join(self.stock)}")

    def _change_stock(self, sku: str, delta: int) -> StockChange:
        self.calls.append(f"stock {sku} {delta:+d}")
        self.stock[sku] = self.stock.get(sku, 0) + delta
        change = StockChange(sku=sku, units=self.stock[sku], delta=delta)
        self.stock_changes.append(change)
        return change

    async def audit(self) -> AuditReport:
        """What a terminate left behind (money charged and not refunded, stock reserved and not
        returned), plus whatever a test put in `extra_discrepancies`."""
        self._check()
        self.calls.append("audit")
        states = list(self.states.values())
        found: list[Discrepancy] = []
        for state in states:
            left = self.effects.get(state.order.order_id, set())
            if state.status is OrderStatus.TERMINATED and left:
                effects = ", ".join(step.value for step in sorted(left))
                found.append(
                    Discrepancy(
                        kind="terminated",
                        order_id=state.order.order_id,
                        message=f"order {state.order.order_id} was terminated with effects left: {effects}",
                    )
                )
        ended = sum(1 for state in states if state.status.is_terminal)
        return AuditReport(
            at=datetime.now(UTC),
            orders=len(states),
            ended=ended,
            in_flight=len(states) - ended,
            discrepancies=found + list(self.extra_discrepancies),
            notes=["fake audit: terminated orders only"],
        )

    async def health(self) -> Health:
        if self.unreachable:
            return Health(services={"inventory": False, "payment": False, "shipping": False})
        return self.health_now.model_copy()

    def web_ui_url(self, order_id: str | None = None) -> str | None:
        base = "http://127.0.0.1:8233"
        return f"{base}/namespaces/default/workflows/order-{order_id}" if order_id else base

    # --- the saga ---------------------------------------------------------------------------

    def _event(
        self,
        state: SagaState,
        step: str,
        kind: EventKind,
        attempt: int,
        moment: datetime | None = None,
        error: str | None = None,
    ) -> None:
        self.emit(
            StepEvent(
                order_id=state.order.order_id,
                step=step,
                kind=kind,
                attempt=attempt,
                time=moment or datetime.now(UTC),
                error=error,
                status=state.status,
                reason=state.reason,
                customer_id=state.order.customer_id,
                total_cents=state.order.total_cents,
            )
        )

    async def _call(self, state: SagaState, step: Step) -> None:
        """One service call with the endpoint's faults; retries transient errors."""
        service = ENDPOINT_OF_STEP[step].name
        endpoint = ENDPOINT_OF_STEP[step]
        step_state = StepState(name=step, compensation=endpoint.compensates is not None, status=StepStatus.RUNNING)
        step_state.started_at = datetime.now(UTC)
        state.steps.append(step_state)
        state.current_step = step
        compensation = step_state.compensation
        await self._wait_if_paused(state, step, step_state)
        attempts = 10_000 if compensation else self.settings.retry.maximum_attempts
        for attempt in range(1, attempts + 1):
            step_state.attempts = attempt
            self._event(state, step.value, EventKind.COMPENSATING if compensation else EventKind.STARTED, attempt)
            faults = self._faults[service]
            self.requests[service] += 1
            await asyncio.sleep(self.step_seconds + faults.latency_ms / 1000)
            if faults.down or self.random.random() < faults.error_rate:
                self.errors[service] += 1
                step_state.status = StepStatus.RETRYING
                step_state.last_error = "no reply" if faults.down else "transient_error: injected"
                self._event(state, step.value, EventKind.FAILED, attempt, error=step_state.last_error)
                await asyncio.sleep(self.step_seconds)
                continue
            if endpoint.decline is not None and self.random.random() < faults.decline_rate:
                self.declines[service] += 1
                step_state.status = StepStatus.FAILED
                step_state.finished_at = datetime.now(UTC)
                step_state.last_error = f"{endpoint.decline.value}: injected decline"
                self._event(state, step.value, EventKind.FAILED, attempt, error=step_state.last_error)
                raise _Declined(step, endpoint.decline)
            self._effect(state, step)
            step_state.status = StepStatus.SUCCEEDED
            step_state.finished_at = datetime.now(UTC)
            self._event(state, step.value, EventKind.COMPENSATED if compensation else EventKind.SUCCEEDED, attempt)
            return
        step_state.status = StepStatus.FAILED
        step_state.finished_at = datetime.now(UTC)
        raise _Exhausted(step)

    def _effect(self, state: SagaState, step: Step) -> None:
        order = state.order
        effects = self.effects.setdefault(order.order_id, set())
        undone = ENDPOINT_OF_STEP[step].compensates
        if undone is not None:
            effects.discard(undone)
        elif step is not Step.SHIP:
            effects.add(step)
        for item in order.items:
            if step is Step.RESERVE:
                self.stock[item.sku] = self.stock.get(item.sku, 0) - item.quantity
            elif step is Step.RESTOCK:
                self.stock[item.sku] = self.stock.get(item.sku, 0) + item.quantity
        if step is Step.CHARGE:
            self.ledger = LedgerTotals(
                charged_cents=self.ledger.charged_cents + order.total_cents, refunded_cents=self.ledger.refunded_cents
            )
        elif step is Step.REFUND:
            self.ledger = LedgerTotals(
                charged_cents=self.ledger.charged_cents, refunded_cents=self.ledger.refunded_cents + order.total_cents
            )

    async def _hold(self, state: SagaState) -> bool:
        """True when the hold ran out, False when a cancel arrived."""
        started = datetime.now(UTC)
        hold = StepState(name=Step.HOLD, status=StepStatus.RUNNING, attempts=1, started_at=started)
        state.steps.append(hold)
        state.current_step = Step.HOLD
        state.hold_until = started + timedelta(seconds=self.settings.saga.hold_seconds)
        self._event(state, Step.HOLD.value, EventKind.STARTED, 1)
        try:
            await asyncio.wait_for(self.cancels[state.order.order_id].wait(), self.settings.saga.hold_seconds)
        except TimeoutError:
            hold.status = StepStatus.SUCCEEDED
            hold.finished_at = datetime.now(UTC)
            self._event(state, Step.HOLD.value, EventKind.SUCCEEDED, 1)
            return True
        hold.status = StepStatus.CANCELLED  # as the workflow does: no event for it, the order's tells
        hold.finished_at = datetime.now(UTC)
        return False

    async def _run(self, state: SagaState) -> None:
        self._event(state, ORDER_STEP, EventKind.STARTED, 1)
        done: list[Step] = []
        reason: Reason | None = None
        try:
            await self._call(state, Step.RESERVE)
            done.append(Step.RESERVE)
            await self._call(state, Step.CHARGE)
            done.append(Step.CHARGE)
            if not await self._hold(state):
                reason = Reason.CANCELLED
            else:
                await self._call(state, Step.SHIP)
        except _Declined as declined:
            reason = declined.reason
        except _Exhausted:
            reason = Reason.RETRIES_EXHAUSTED
        if reason is None:
            self.effects.pop(state.order.order_id, None)  # a completed order keeps its effects by design
            state.status = OrderStatus.COMPLETED
            state.current_step = None
            state.finished_at = datetime.now(UTC)
            self._event(state, ORDER_STEP, EventKind.SUCCEEDED, 1)
            return
        state.status = OrderStatus.COMPENSATING
        state.reason = reason
        self._event(state, ORDER_STEP, EventKind.COMPENSATING, 1)
        for step in reversed(done):
            await self._call(state, COMPENSATION_OF[step])
        state.status = OrderStatus.COMPENSATED
        state.current_step = None
        state.finished_at = datetime.now(UTC)
        self._event(state, ORDER_STEP, EventKind.COMPENSATED, 1)


def _typed(fake: FakeFacade) -> CheckoutFacade:
    return fake  # mypy checks here that the fake has every method of the facade, with its types


class FakeStack:
    """Stands in for engine.stack.Stack (the dashboard's StackLike)."""

    def __init__(
        self,
        settings: Settings,
        facade: FakeFacade | None = None,
        *,
        fail: Exception | None = None,
        runs_worker: bool = True,
    ) -> None:
        self.settings = settings
        self.runs_worker = runs_worker
        self.facade = facade or FakeFacade(settings)
        self.fail = fail
        self.started = False
        self.helpers_started = False
        self.stopped = False
        self.server_listeners: list[ServerListener] = []  # the supervisor's: tests call them

    async def start(self) -> None:
        if self.fail is not None:
            raise self.fail
        self.started = True

    def start_helpers(self) -> None:
        self.helpers_started = self.started

    def on_server_event(self, listener: ServerListener) -> None:
        self.server_listeners.append(listener)

    async def stop(self) -> None:
        self.stopped = True
        for task in self.facade.tasks.values():
            task.cancel()
