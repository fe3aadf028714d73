"""An order whose compensation found it shipped, as the table, the Detail and the export show it
(without Textual): completed, no failure reason, the note saying what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from engine.models import (
    NOTE_FOUND_SHIPPED,
    ORDER_STEP,
    EventKind,
    OrderInput,
    OrderStatus,
    OrderSummary,
    Reason,
    SagaState,
    Step,
    StepEvent,
    StepState,
    StepStatus,
)
from tui.export import row_values
from tui.live_saga import fold
from tui.state import OrderBook
from tui.widgets.order_detail import render_saga
from tui.widgets.orders_table import _step_cell

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ORDER = OrderInput.model_validate(
    {"order_id": "a", "customer_id": "c", "items": [{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}]}
)


def ev(step: str, kind: EventKind, seconds: float, status: OrderStatus, **kw: object) -> StepEvent:
    return StepEvent(
        order_id="a",
        step=step,
        kind=kind,
        attempt=kw.pop("attempt", 0),
        time=T0 + timedelta(seconds=seconds),
        status=status,
        customer_id="c",
        total_cents=999,
        **kw,  # fmt: skip
    )


# What the workflow publishes on that path: ship times out, the saga compensates, the refund finds it shipped.
EVENTS = [
    ev(ORDER_STEP, EventKind.STARTED, 0, OrderStatus.RUNNING),
    ev("ship", EventKind.FAILED, 5, OrderStatus.RUNNING, attempt=4, error="no answer within the step timeout (5s)"),
    ev(ORDER_STEP, EventKind.COMPENSATING, 6, OrderStatus.COMPENSATING, reason=Reason.RETRIES_EXHAUSTED),
    ev("refund", EventKind.COMPENSATING, 6.1, OrderStatus.COMPENSATING, attempt=1, reason=Reason.RETRIES_EXHAUSTED),
    ev(ORDER_STEP, EventKind.SUCCEEDED, 6.2, OrderStatus.COMPLETED, note=NOTE_FOUND_SHIPPED),
]


def test_the_table_row_says_completed_with_the_note_not_the_reason() -> None:
    book = OrderBook(clock=lambda: T0 + timedelta(seconds=10))
    book.apply(EVENTS)
    row = book.orders["a"]
    assert (row.status, row.reason, row.note) == (OrderStatus.COMPLETED, None, NOTE_FOUND_SHIPPED)
    assert _step_cell(row).plain == NOTE_FOUND_SHIPPED
    assert row_values(row)["reason"] is None and row_values(row)["note"] == NOTE_FOUND_SHIPPED
    # A listing of an earlier order (its memo kept the reason) read after the events changes nothing.
    summary = OrderSummary(order_id="a", status=OrderStatus.COMPLETED, reason=None, note=NOTE_FOUND_SHIPPED)
    book.apply([summary])
    assert (book.orders["a"].reason, book.orders["a"].note) == (None, NOTE_FOUND_SHIPPED)


def test_a_listing_alone_shows_the_note() -> None:
    book = OrderBook(clock=lambda: T0)
    book.apply([OrderSummary(order_id="a", status=OrderStatus.COMPLETED, note=NOTE_FOUND_SHIPPED)])
    assert _step_cell(book.orders["a"]).plain == NOTE_FOUND_SHIPPED


def test_the_detail_folds_the_end_and_shows_the_note() -> None:
    running = SagaState(
        order=ORDER,
        current_step=Step.SHIP,
        started_at=T0,
        steps=[StepState(name=Step.SHIP, status=StepStatus.RETRYING, attempts=4)],
    )
    saga = fold(running, EVENTS[1:])
    assert (saga.status, saga.reason, saga.note) == (OrderStatus.COMPLETED, None, NOTE_FOUND_SHIPPED)
    console = Console(width=100, record=True)
    console.print(render_saga(saga, T0 + timedelta(seconds=10), None))
    shown = console.export_text()
    assert "COMPLETED" in shown and NOTE_FOUND_SHIPPED in shown and "retries_exhausted" not in shown
