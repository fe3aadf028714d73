"""The dashboard's order book, without Textual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.models import ORDER_STEP, EventKind, OrderStatus, OrderSummary, Reason, StepEvent
from tui.state import OrderBook, SortMode, StatusFilter, percentile

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def ev(
    order: str, step: str, kind: EventKind, seconds: float, status: OrderStatus = OrderStatus.RUNNING, **kw
) -> StepEvent:
    return StepEvent(
        order_id=order,
        step=step,
        kind=kind,
        time=T0 + timedelta(seconds=seconds),
        status=status,
        customer_id=kw.pop("customer_id", "cust-1"),
        total_cents=kw.pop("total_cents", 1000),
        **kw,
    )


def saga(order: str, start: float, took: float, outcome: OrderStatus = OrderStatus.COMPLETED) -> list[StepEvent]:
    kind = EventKind.SUCCEEDED if outcome is OrderStatus.COMPLETED else EventKind.COMPENSATED
    return [
        ev(order, ORDER_STEP, EventKind.STARTED, start),
        ev(order, "reserve", EventKind.STARTED, start + 0.1, attempt=1),
        ev(order, "reserve", EventKind.SUCCEEDED, start + 0.2, attempt=1),
        ev(order, ORDER_STEP, kind, start + took, status=outcome),
    ]


def book(now: float = 100.0, **kw) -> OrderBook:
    return OrderBook(clock=lambda: T0 + timedelta(seconds=now), **kw)


def test_events_fold_into_one_row_per_order_with_current_step_and_attempts() -> None:
    b = book()
    result = b.apply(
        [
            ev("a", ORDER_STEP, EventKind.STARTED, 0),
            ev("a", "charge", EventKind.STARTED, 1, attempt=1),
            ev("a", "charge", EventKind.FAILED, 2, attempt=1, error="transient"),
            ev("a", "charge", EventKind.STARTED, 3, attempt=2),
        ]
    )
    assert result.added == {"a"}
    row = b.orders["a"]
    assert (row.status, row.step, row.step_kind, row.attempts) == (OrderStatus.RUNNING, "charge", EventKind.STARTED, 2)
    assert row.last_error == "transient"
    assert row.customer_id == "cust-1" and row.total_cents == 1000
    assert b.counts().in_flight == 1


def test_applying_the_same_events_twice_changes_nothing() -> None:
    b = book()
    events = saga("a", 0, 3) + saga("b", 1, 2, OrderStatus.COMPENSATED)
    b.apply(events)
    before = (b.counts(), b.latency(), b.finished_per_second())
    again = b.apply(events)
    assert not again.touched and not again.status_changed
    assert (b.counts(), b.latency(), b.finished_per_second()) == before
    assert b.counts().completed == 1 and b.counts().compensated == 1


def test_terminal_status_is_final_even_when_older_events_arrive_late() -> None:
    b = book()
    b.apply([ev("a", ORDER_STEP, EventKind.SUCCEEDED, 5, status=OrderStatus.COMPLETED)])
    b.apply([ev("a", "hold", EventKind.STARTED, 2), ev("a", ORDER_STEP, EventKind.STARTED, 0)])
    row = b.orders["a"]
    assert row.status is OrderStatus.COMPLETED
    assert row.step is None  # the late step event is older than what we already know
    assert row.started_at == T0


def test_compensation_shows_compensating_then_compensated_with_reason() -> None:
    b = book()
    b.apply(
        [
            ev("a", ORDER_STEP, EventKind.STARTED, 0),
            ev("a", "charge", EventKind.FAILED, 1, error="card_declined"),
            ev("a", "restock", EventKind.COMPENSATING, 2, status=OrderStatus.COMPENSATING, reason=Reason.CARD_DECLINED),
        ]
    )
    assert b.orders["a"].status is OrderStatus.COMPENSATING
    assert b.counts().compensating == 1 and b.counts().in_flight == 1
    b.apply(
        [ev("a", ORDER_STEP, EventKind.COMPENSATED, 3, status=OrderStatus.COMPENSATED, reason=Reason.CARD_DECLINED)]
    )
    counts = b.counts()
    assert (counts.compensating, counts.in_flight, counts.compensated) == (0, 0, 1)
    assert b.orders["a"].reason is Reason.CARD_DECLINED


def test_summaries_add_orders_without_events_and_only_upgrade_to_terminal() -> None:
    b = book()
    b.apply([ev("a", "refund", EventKind.COMPENSATING, 1, status=OrderStatus.COMPENSATING)])
    b.apply(
        [
            OrderSummary(order_id="a", status=OrderStatus.RUNNING, started_at=T0),  # coarser than the events
            OrderSummary(order_id="ext", customer_id="c9", total_cents=5, status=OrderStatus.RUNNING, started_at=T0),
        ]
    )
    assert b.orders["a"].status is OrderStatus.COMPENSATING
    assert b.orders["ext"].customer_id == "c9"
    result = b.apply([OrderSummary(order_id="ext", status=OrderStatus.TERMINATED, started_at=T0, closed_at=T0)])
    assert result.status_changed == {"ext"}
    assert b.counts().terminated == 1


def test_throughput_sparkline_and_latency_percentiles() -> None:
    b = book(now=61)
    events = []
    for index in range(10):  # ten sagas finishing at 50..59 s, taking 1..10 s
        events += saga(f"o{index}", 50 + index - (index + 1), index + 1)
    b.apply(events)
    series = b.finished_per_second()
    assert len(series) == 60 and sum(series) == 10
    assert series[-11:-1] == [1.0] * 10 and series[-1] == 0.0
    assert b.throughput() == 0.8  # 4 of the last 5 whole seconds had one finish each
    p50, p95 = b.latency()
    assert (p50, p95) == (5.0, 10.0)


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile(list(map(float, range(1, 101))), 0.95) == 95.0


def test_cap_evicts_oldest_finished_orders_and_never_in_flight_ones() -> None:
    b = book(max_orders=3)
    b.apply(saga("old", 0, 1) + saga("mid", 1, 1) + [ev("run", ORDER_STEP, EventKind.STARTED, 2)])
    result = b.apply(saga("new", 3, 1))
    assert result.evicted == {"old"}
    assert set(b.orders) == {"mid", "run", "new"}
    assert b.counts().completed == 3  # counts are of what was seen, not of what is kept
    again = b.apply(saga("old", 0, 1) + [OrderSummary(order_id="old", status=OrderStatus.COMPLETED)])
    assert "old" not in b.orders and not again.added, "an evicted order does not come back from a listing"
    # Only ended orders are evicted: the bulk form's progress counts them as ended.
    assert b.is_terminal("old") and b.is_terminal("mid") and not b.is_terminal("run")
    assert not b.is_terminal("never-seen")


def test_filters_and_sort_keys() -> None:
    b = book()
    b.apply(saga("a", 0, 1) + [ev("b", ORDER_STEP, EventKind.STARTED, 5, customer_id="zed", total_cents=99)])
    assert b.matches("a", StatusFilter.COMPLETED, "")
    assert not b.matches("a", StatusFilter.IN_FLIGHT, "")
    assert b.matches("b", StatusFilter.IN_FLIGHT, "ZE")
    assert not b.matches("b", StatusFilter.ALL, "nomatch")
    newest = sorted(b.orders, key=b.sort_key(SortMode.NEWEST))
    assert newest == ["b", "a"]
    assert sorted(b.orders, key=b.sort_key(SortMode.TOTAL)) == ["a", "b"]
    assert sorted(b.orders, key=b.sort_key(SortMode.STATUS)) == ["b", "a"]
    assert SortMode.CUSTOMER.next() is SortMode.NEWEST


def test_a_terminated_summary_ends_a_running_order() -> None:
    b = book()
    b.apply([ev("a", ORDER_STEP, EventKind.STARTED, 0), ev("a", "hold", EventKind.STARTED, 1)])
    result = b.apply([OrderSummary(order_id="a", status=OrderStatus.TERMINATED, closed_at=T0)])
    assert result.status_changed == {"a"} and b.orders["a"].status is OrderStatus.TERMINATED
    assert b.is_terminal("a") and not b.is_terminal("missing")
