"""Folding step events into the Detail's saga, without Textual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.models import (
    ORDER_STEP,
    EventKind,
    OrderInput,
    OrderStatus,
    Reason,
    SagaState,
    Step,
    StepEvent,
    StepState,
    StepStatus,
)
from tui.live_saga import fold

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ORDER = OrderInput.model_validate(
    {"order_id": "a", "customer_id": "c", "items": [{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}]}
)


def ev(step: str, kind: EventKind, seconds: float, attempt: int = 1, **kw: object) -> StepEvent:
    values: dict = {"status": OrderStatus.RUNNING} | kw
    moment = T0 + timedelta(seconds=seconds)
    return StepEvent(order_id="a", step=step, kind=kind, attempt=attempt, time=moment, **values)


def at_hold() -> SagaState:
    steps = [
        StepState(name=Step.RESERVE, status=StepStatus.SUCCEEDED, attempts=1),
        StepState(name=Step.CHARGE, status=StepStatus.SUCCEEDED, attempts=2),
        StepState(name=Step.HOLD, status=StepStatus.RUNNING, attempts=1),
        StepState(name=Step.SHIP),
    ]
    return SagaState(order=ORDER, current_step=Step.HOLD, steps=steps, started_at=T0)


def test_a_cancel_folds_into_compensation_and_the_end() -> None:
    events = [
        ev(ORDER_STEP, EventKind.COMPENSATING, 1, status=OrderStatus.COMPENSATING, reason=Reason.CANCELLED),
        ev("refund", EventKind.COMPENSATING, 1.1, status=OrderStatus.COMPENSATING),
        ev("refund", EventKind.COMPENSATED, 1.2, status=OrderStatus.COMPENSATING),
        ev("restock", EventKind.COMPENSATING, 1.3, status=OrderStatus.COMPENSATING),
        ev("restock", EventKind.FAILED, 1.4, status=OrderStatus.COMPENSATING, error="transient"),
    ]
    saga = fold(at_hold(), events)
    assert saga.status is OrderStatus.COMPENSATING and saga.reason is Reason.CANCELLED
    assert saga.step(Step.HOLD).status is StepStatus.CANCELLED
    assert [s.status for s in saga.steps if s.compensation] == [StepStatus.SUCCEEDED, StepStatus.RETRYING]
    done = fold(saga, [ev(ORDER_STEP, EventKind.COMPENSATED, 2, status=OrderStatus.COMPENSATED)])
    assert done.status is OrderStatus.COMPENSATED and done.finished_at == T0 + timedelta(seconds=2)
    assert done.step(Step.SHIP).status is StepStatus.SKIPPED


def test_older_events_change_nothing_and_folding_twice_is_harmless() -> None:
    saga = at_hold()
    late = [ev("charge", EventKind.STARTED, 0.1, attempt=1), ev("charge", EventKind.FAILED, 0.2, attempt=2)]
    assert fold(saga, late) == saga
    shipped = [ev("hold", EventKind.SUCCEEDED, 10), ev("ship", EventKind.STARTED, 10.1)]
    once = fold(saga, shipped)
    assert fold(once, shipped) == once
    assert once.current_step is Step.SHIP and once.step(Step.HOLD).status is StepStatus.SUCCEEDED


def test_an_ended_saga_stays_as_it_is_and_the_input_is_not_changed() -> None:
    saga = at_hold()
    ended = saga.model_copy(update={"status": OrderStatus.COMPLETED})
    assert fold(ended, [ev("ship", EventKind.STARTED, 11)]) == ended
    fold(saga, [ev("hold", EventKind.SUCCEEDED, 10)])
    assert saga.step(Step.HOLD).status is StepStatus.RUNNING
