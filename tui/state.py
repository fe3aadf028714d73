"""The dashboard's order book: pure Python, no Textual, unit-testable.

It folds step events and Temporal order summaries into one row per order, keeps
status counts, throughput per second over the last minute and saga latency
percentiles. Applying the same event or summary twice changes nothing, and events
may arrive in any order: a terminal status never goes back, and the current step
follows the newest event.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from engine.models import ORDER_STEP, EventKind, OrderStatus, OrderSummary, Reason, StepEvent

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _completed(row: OrderRow, note: str | None) -> None:
    """A completed order has no failure reason, whatever its compensation started for (it found the
    order shipped): its note says so."""
    if row.status is OrderStatus.COMPLETED or not row.status.is_terminal:
        row.reason = None
        row.note = note or row.note


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class StatusFilter(StrEnum):
    ALL = "all"
    IN_FLIGHT = "in_flight"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    FAILED = "failed"  # FAILED or TERMINATED

    @property
    def label(self) -> str:
        """How the filter bar and the palette name it."""
        return _FILTER_LABELS[self]

    def accepts(self, status: OrderStatus) -> bool:
        match self:
            case StatusFilter.ALL:
                return True
            case StatusFilter.IN_FLIGHT:
                return not status.is_terminal
            case StatusFilter.COMPENSATING:
                return status is OrderStatus.COMPENSATING
            case StatusFilter.COMPLETED:
                return status is OrderStatus.COMPLETED
            case StatusFilter.COMPENSATED:
                return status is OrderStatus.COMPENSATED
            case StatusFilter.FAILED:
                return status in (OrderStatus.FAILED, OrderStatus.TERMINATED)
        return True


_FILTER_LABELS = {
    StatusFilter.ALL: "all orders",
    StatusFilter.IN_FLIGHT: "in flight",
    StatusFilter.COMPENSATING: "compensating",
    StatusFilter.COMPLETED: "completed",
    StatusFilter.COMPENSATED: "compensated",
    StatusFilter.FAILED: "failed or terminated",
}


class SortMode(StrEnum):
    NEWEST = "newest"
    OLDEST = "oldest"
    STATUS = "status"
    TOTAL = "total"
    ID = "id"
    CUSTOMER = "customer"

    def next(self) -> SortMode:
        modes = list(SortMode)
        return modes[(modes.index(self) + 1) % len(modes)]


_STATUS_RANK = {
    OrderStatus.COMPENSATING: 0,
    OrderStatus.RUNNING: 1,
    OrderStatus.FAILED: 2,
    OrderStatus.TERMINATED: 3,
    OrderStatus.COMPENSATED: 4,
    OrderStatus.COMPLETED: 5,
}


@dataclass
class OrderRow:
    """What the dashboard knows about one order."""

    order_id: str
    seq: int
    status: OrderStatus = OrderStatus.RUNNING
    customer_id: str | None = None
    total_cents: int | None = None
    reason: Reason | None = None
    note: str | None = None  # e.g. "compensation found it shipped" on a completed order
    step: str | None = None
    step_kind: EventKind | None = None
    attempts: int = 0  # the most attempts any step took so far
    last_error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    last_event_at: datetime | None = None
    start_known: bool = False  # started_at is the real start, not the first event seen

    @property
    def paused(self) -> bool:
        """Waiting before a paused step (`step`): the table reads `⏸ PAUSED  before charge`."""
        return self.status is OrderStatus.RUNNING and self.step_kind is EventKind.PAUSED

    def age_seconds(self, now: datetime) -> float | None:
        """Seconds since the order started, whether it runs or ended (how long it took is in the Detail)."""
        if self.started_at is None:
            return None
        return max(0.0, (now - self.started_at).total_seconds())


@dataclass
class Counts:
    in_flight: int = 0  # RUNNING + COMPENSATING
    running: int = 0
    compensating: int = 0
    completed: int = 0
    compensated: int = 0
    failed: int = 0
    terminated: int = 0

    @property
    def finished(self) -> int:
        return self.completed + self.compensated + self.failed + self.terminated


@dataclass
class BatchResult:
    """What one `apply` changed: the dashboard redraws exactly these orders."""

    added: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    status_changed: set[str] = field(default_factory=set)
    evicted: set[str] = field(default_factory=set)

    @property
    def touched(self) -> set[str]:
        return self.added | self.changed


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of `values` (need not be sorted); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class OrderBook:
    """One row per order, folded from StepEvents and OrderSummaries."""

    def __init__(
        self,
        *,
        clock: Clock = utc_now,
        max_orders: int = 1000,
        window_seconds: int = 60,
        rate_seconds: int = 5,
        latency_samples: int = 1000,
    ) -> None:
        self.clock = clock
        self.max_orders = max(1, max_orders)
        self.window_seconds = window_seconds
        self.rate_seconds = rate_seconds
        self.orders: dict[str, OrderRow] = {}
        self._seq = 0
        self._live: Counter[OrderStatus] = Counter()  # statuses of orders in the book
        self._finished: Counter[OrderStatus] = Counter()  # terminal transitions seen, never decremented
        self._finish_times: dict[int, int] = {}  # epoch second -> orders that finished in it
        self._latencies: deque[float] = deque(maxlen=latency_samples)
        # Evicted (finished) orders stay out: a late event or a listing must not bring them back.
        self._evicted: set[str] = set()
        self._evicted_order: deque[str] = deque()
        self._evicted_limit = 10 * self.max_orders

    # --- folding ------------------------------------------------------------------------

    def apply(self, items: Iterable[StepEvent | OrderSummary]) -> BatchResult:
        """Fold a batch of events and summaries; then drop the oldest finished orders over the cap."""
        result = BatchResult()
        for item in items:
            if isinstance(item, StepEvent):
                self._apply_event(item, result)
            else:
                self._apply_summary(item, result)
        result.evicted = self._evict()
        result.added -= result.evicted
        result.changed -= result.evicted | result.added
        result.status_changed -= result.evicted
        return result

    def _row(self, order_id: str, result: BatchResult) -> OrderRow | None:
        row = self.orders.get(order_id)
        if row is None:
            if order_id in self._evicted:
                return None
            self._seq += 1
            row = OrderRow(order_id=order_id, seq=self._seq)
            self.orders[order_id] = row
            self._live[row.status] += 1
            result.added.add(order_id)
        return row

    def _apply_event(self, event: StepEvent, result: BatchResult) -> None:
        row = self._row(event.order_id, result)
        if row is None:
            return
        before = _shown(row)
        moment = _aware(event.time)
        if event.customer_id and not row.customer_id:
            row.customer_id = event.customer_id
        if event.total_cents is not None and row.total_cents is None:
            row.total_cents = event.total_cents
        if event.step == ORDER_STEP and event.kind is EventKind.STARTED and moment is not None:
            row.started_at = moment
            row.start_known = True
        elif not row.start_known and (row.started_at is None or (moment is not None and moment < row.started_at)):
            row.started_at = moment  # the first event seen stands in for the start
        newest = row.last_event_at is None or (moment is not None and moment >= row.last_event_at)
        if newest:
            row.last_event_at = moment
            if event.step != ORDER_STEP:
                row.step = event.step
                row.step_kind = event.kind
                row.attempts = max(row.attempts, event.attempt)
                if event.error:
                    row.last_error = event.error
                elif event.kind is EventKind.SUCCEEDED:
                    row.last_error = None
        if event.reason is not None and row.status is not OrderStatus.COMPLETED:
            row.reason = event.reason
        if event.status is OrderStatus.COMPLETED:
            _completed(row, event.note)
        if event.status.is_terminal:
            self._set_status(row, event.status, moment, result, record_latency=True)
        elif not row.status.is_terminal and newest:
            self._set_status(row, event.status, moment, result, record_latency=False)
        after = _shown(row)
        if after != before:
            result.changed.add(row.order_id)

    def _apply_summary(self, summary: OrderSummary, result: BatchResult) -> None:
        row = self._row(summary.order_id, result)
        if row is None:
            return
        before = (row.status, row.customer_id, row.total_cents, row.reason, row.started_at, row.note)
        row.customer_id = row.customer_id or summary.customer_id
        if row.total_cents is None:
            row.total_cents = summary.total_cents
        started = _aware(summary.started_at)
        if started is not None and not row.start_known:
            row.started_at = started
            row.start_known = True
        if summary.reason is not None and row.status is not OrderStatus.COMPLETED:
            row.reason = summary.reason
        if summary.status is OrderStatus.COMPLETED:
            _completed(row, summary.note)
        if summary.status.is_terminal:
            # Temporal's start and close times: a latency sample when both are known (at start
            # the listing goes before the replayed events, so it is the one that ends the order).
            closed = _aware(summary.closed_at)
            self._set_status(row, summary.status, closed, result, record_latency=closed is not None)
        elif row.order_id in result.added:
            # Temporal says it runs; events (if any) know the finer status.
            self._set_status(row, summary.status, None, result, record_latency=False)
        after = (row.status, row.customer_id, row.total_cents, row.reason, row.started_at, row.note)
        if after != before:
            result.changed.add(row.order_id)

    def _set_status(
        self,
        row: OrderRow,
        status: OrderStatus,
        moment: datetime | None,
        result: BatchResult,
        *,
        record_latency: bool,
    ) -> None:
        if row.status.is_terminal:
            return  # terminal is final; a late or repeated event changes nothing
        if status is row.status:
            return
        self._live[row.status] -= 1
        self._live[status] += 1
        row.status = status
        result.status_changed.add(row.order_id)
        if status.is_terminal:
            row.finished_at = moment or self.clock()
            self._finished[status] += 1
            second = int(row.finished_at.timestamp())
            self._finish_times[second] = self._finish_times.get(second, 0) + 1
            self._trim_finish_times()
            if record_latency and row.start_known and row.started_at is not None:
                self._latencies.append(max(0.0, (row.finished_at - row.started_at).total_seconds()))

    def _evict(self) -> set[str]:
        excess = len(self.orders) - self.max_orders
        if excess <= 0:
            return set()
        # The dict keeps rows in the order they came (their seq): the oldest finished are the first ones.
        finished = itertools.islice((row for row in self.orders.values() if row.status.is_terminal), excess)
        evicted = set()
        for row in list(finished):
            del self.orders[row.order_id]
            self._live[row.status] -= 1
            evicted.add(row.order_id)
            self._evicted.add(row.order_id)
            self._evicted_order.append(row.order_id)
        while len(self._evicted_order) > self._evicted_limit:
            self._evicted.discard(self._evicted_order.popleft())
        return evicted

    def _trim_finish_times(self) -> None:
        if len(self._finish_times) > 4 * self.window_seconds:
            horizon = int(self.clock().timestamp()) - 2 * self.window_seconds
            for second in [s for s in self._finish_times if s < horizon]:
                del self._finish_times[second]

    # --- numbers --------------------------------------------------------------------------

    def counts(self) -> Counts:
        running = self._live[OrderStatus.RUNNING]
        compensating = self._live[OrderStatus.COMPENSATING]
        return Counts(
            in_flight=running + compensating,
            running=running,
            compensating=compensating,
            completed=self._finished[OrderStatus.COMPLETED],
            compensated=self._finished[OrderStatus.COMPENSATED],
            failed=self._finished[OrderStatus.FAILED],
            terminated=self._finished[OrderStatus.TERMINATED],
        )

    def finished_per_second(self, now: datetime | None = None) -> list[float]:
        """Orders finished in each of the last `window_seconds` whole seconds, oldest first."""
        current = int((now or self.clock()).timestamp())
        return [float(self._finish_times.get(second, 0)) for second in range(current - self.window_seconds, current)]

    def throughput(self, now: datetime | None = None) -> float:
        """Finished orders per second over the last `rate_seconds` whole seconds."""
        series = self.finished_per_second(now)
        recent = series[-self.rate_seconds :]
        return sum(recent) / len(recent) if recent else 0.0

    def latency(self) -> tuple[float | None, float | None]:
        """Saga latency (order started -> terminal) p50 and p95 in seconds, over recent sagas."""
        samples = list(self._latencies)
        return percentile(samples, 0.50), percentile(samples, 0.95)

    # --- views ----------------------------------------------------------------------------

    def matches(self, order_id: str, status: StatusFilter, text: str) -> bool:
        row = self.orders.get(order_id)
        if row is None or not status.accepts(row.status):
            return False
        needle = text.strip().lower()
        if not needle:
            return True
        haystack = " ".join(
            part for part in (row.order_id, row.customer_id, row.step, row.status.value, row.reason) if part
        ).lower()
        return needle in haystack

    def sort_key(self, mode: SortMode) -> Callable[[str], tuple[float | str, ...]]:
        def key(order_id: str) -> tuple[float | str, ...]:
            row = self.orders.get(order_id)
            if row is None:
                return ()
            started = row.started_at.timestamp() if row.started_at else 0.0
            match mode:
                case SortMode.NEWEST:
                    return (-started, -row.seq)
                case SortMode.OLDEST:
                    return (started, row.seq)
                case SortMode.STATUS:
                    return (_STATUS_RANK.get(row.status, 9), -started, -row.seq)
                case SortMode.TOTAL:
                    return (-(row.total_cents or 0), -row.seq)
                case SortMode.ID:
                    return (row.order_id,)
                case SortMode.CUSTOMER:
                    return (row.customer_id or "", -started, -row.seq)
            return (row.seq,)

        return key

    def in_flight_ids(self) -> list[str]:
        return [row.order_id for row in self.orders.values() if not row.status.is_terminal]

    def is_terminal(self, order_id: str) -> bool:
        """Whether the order has ended: its row says so, or it was evicted (only ended orders are)."""
        row = self.orders.get(order_id)
        return row.status.is_terminal if row is not None else order_id in self._evicted


def _shown(row: OrderRow) -> tuple[object, ...]:
    """What a row shows: a change here means the row is drawn again."""
    return (row.status, row.step, row.step_kind, row.attempts, row.customer_id, row.total_cents, row.reason, row.note)
