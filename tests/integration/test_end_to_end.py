"""Orders end to end on the real embedded stack: Temporal dev server, nats-server, NATS services."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from engine.errors import InvalidInput, OrderNotFound
from engine.models import (
    EventKind,
    FaultSettings,
    OrderInput,
    OrderStatus,
    Reason,
    SagaState,
    ServiceName,
    Step,
    StepEvent,
    StepStatus,
    workflow_id_for,
)
from engine.stack import Stack

pytestmark = pytest.mark.integration


def order(sku: str = "golang-book", quantity: int = 2) -> OrderInput:
    return OrderInput(
        order_id=uuid.uuid4().hex[:12],
        customer_id="cust-e2e",
        items=[{"sku": sku, "quantity": quantity, "unit_price_cents": 3999}],
    )


async def wait_for_step(stack: Stack, order_id: str, step: Step, timeout: float = 15) -> SagaState:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        state = await stack.facade.state(order_id)
        if state.current_step == step:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id} never reached {step}")


async def test_order_completes_through_the_services(stack: Stack) -> None:
    ops = stack.facade
    before = await ops.services_snapshot()
    placed = order(quantity=3)
    await ops.submit(placed)
    state = await ops.result(placed.order_id)
    after = await ops.services_snapshot()
    assert state.status is OrderStatus.COMPLETED
    assert [s.status for s in state.steps] == [StepStatus.SUCCEEDED] * 4
    assert after.stock["golang-book"] == before.stock["golang-book"] - 3
    assert after.ledger.charged_cents - before.ledger.charged_cents == 3 * 3999
    assert after.ledger.refunded_cents == before.ledger.refunded_cents
    listed = {o.order_id: o for o in await ops.list_orders()}
    assert listed[placed.order_id].status is OrderStatus.COMPLETED
    assert listed[placed.order_id].total_cents == 3 * 3999


async def test_payment_decline_compensates_and_loses_nothing(stack: Stack) -> None:
    ops = stack.facade
    before = await ops.services_snapshot()
    await ops.set_faults(ServiceName.PAYMENT, FaultSettings(decline_rate=1))
    try:
        placed = order()
        await ops.submit(placed)
        state = await ops.result(placed.order_id)
    finally:
        await ops.clear_faults()
    after = await ops.services_snapshot()
    assert state.status is OrderStatus.COMPENSATED and state.reason is Reason.CARD_DECLINED
    # Every compensation runs: the refund finds nothing charged and voids the charge for good.
    assert [s.name for s in state.steps if s.compensation] == [Step.REFUND, Step.RESTOCK]
    assert after.stock == before.stock
    assert after.ledger == before.ledger


async def test_cancel_update_during_hold_refunds_and_restocks(stack: Stack) -> None:
    ops = stack.facade
    before = await ops.services_snapshot()
    placed = order()
    await ops.submit(placed)
    await wait_for_step(stack, placed.order_id, Step.HOLD)
    answer = await ops.cancel(placed.order_id)
    assert answer.accepted, answer.reason
    state = await ops.result(placed.order_id)
    after = await ops.services_snapshot()
    assert state.status is OrderStatus.COMPENSATED and state.reason is Reason.CANCELLED
    assert [s.name for s in state.steps if s.compensation] == [Step.REFUND, Step.RESTOCK]
    assert after.stock == before.stock
    assert after.ledger.net_cents == before.ledger.net_cents
    again = await ops.cancel(placed.order_id)
    assert not again.accepted


async def test_temporal_cancel_during_hold_compensates(stack: Stack) -> None:
    ops = stack.facade
    before = await ops.services_snapshot()
    placed = order()
    await ops.submit(placed)
    await wait_for_step(stack, placed.order_id, Step.HOLD)
    assert stack.client is not None
    await stack.client.get_workflow_handle(workflow_id_for(placed.order_id)).cancel()
    state = await ops.result(placed.order_id)
    assert state.status is OrderStatus.COMPENSATED and state.reason is Reason.CANCELLED
    after = await ops.services_snapshot()
    assert after.stock == before.stock and after.ledger.net_cents == before.ledger.net_cents
    summary = {o.order_id: o for o in await ops.list_orders(status=OrderStatus.COMPENSATED)}
    assert summary[placed.order_id].reason is Reason.CANCELLED


async def test_out_of_stock_declines_at_reserve(stack: Stack) -> None:
    ops = stack.facade
    placed = order(sku="mechanical-keyboard", quantity=10_000)
    await ops.submit(placed)
    state = await ops.result(placed.order_id)
    assert state.reason is Reason.OUT_OF_STOCK
    assert [s.name for s in state.steps if s.compensation] == [Step.REFUND, Step.RESTOCK]


async def test_transient_errors_exhaust_retries_then_compensate(stack: Stack) -> None:
    ops = stack.facade
    before = await ops.services_snapshot()
    await ops.set_faults(ServiceName.SHIPPING, FaultSettings(error_rate=1))
    try:
        placed = order()
        await ops.submit(placed)
        state = await ops.result(placed.order_id)
    finally:
        await ops.clear_faults()
    ship = state.step(Step.SHIP)
    assert state.reason is Reason.RETRIES_EXHAUSTED
    assert ship.attempts == stack.settings.retry.maximum_attempts and "injected" in (ship.last_error or "")
    after = await ops.services_snapshot()
    assert after.stock == before.stock and after.ledger.net_cents == before.ledger.net_cents


async def test_events_are_published_for_every_step(stack: Stack) -> None:
    ops = stack.facade
    placed = order()
    seen: list[StepEvent] = []

    async def collect() -> None:
        async for event in ops.events():
            if isinstance(event, StepEvent) and event.order_id == placed.order_id:
                seen.append(event)
                if event.step == "order" and event.kind is EventKind.SUCCEEDED:
                    return

    collector = asyncio.create_task(collect())
    await asyncio.sleep(0.2)  # the subscription is live before the order starts
    await ops.submit(placed)
    await asyncio.wait_for(collector, timeout=20)
    steps = [(e.step, e.kind) for e in seen]
    assert steps[0] == ("order", EventKind.STARTED)
    for step in ("reserve", "charge", "hold", "ship"):
        assert steps.index((step, EventKind.STARTED)) < steps.index((step, EventKind.SUCCEEDED))
    assert seen[0].customer_id == "cust-e2e" and seen[0].total_cents == 2 * 3999


async def test_bad_requests_change_nothing(stack: Stack) -> None:
    ops = stack.facade
    placed = order()
    await ops.submit(placed)
    with pytest.raises(InvalidInput, match="already exists"):
        await ops.submit(placed)
    with pytest.raises(OrderNotFound):
        await ops.state("no-such-order")
    with pytest.raises(OrderNotFound):
        await ops.cancel("no-such-order")
    assert (await ops.result(placed.order_id)).status is OrderStatus.COMPLETED


async def test_health_reports_everything_up(stack: Stack) -> None:
    health = await stack.facade.health()
    assert health.temporal and health.nats and health.worker
    assert health.services == {"inventory": True, "payment": True, "shipping": True, "control": True}
    assert (stack.facade.web_ui_url() or "").startswith("http://127.0.0.1:")


async def test_cancel_while_shipping_is_in_flight_is_rejected(stack: Stack) -> None:
    """Ship runs as a local activity inside a workflow task: a cancel sent meanwhile is answered
    when the task ends, rejected, and the order completes with nothing undone."""
    ops = stack.facade
    await ops.set_faults(ServiceName.SHIPPING, FaultSettings(latency_ms=800))
    try:
        placed = order()
        await ops.submit(placed)
        await wait_for_step(stack, placed.order_id, Step.HOLD)
        await asyncio.sleep(stack.settings.saga.hold_seconds + 0.3)  # the hold is over: shipping (0.8 s)
        answer = await ops.cancel(placed.order_id)
        state = await ops.result(placed.order_id)
    finally:
        await ops.clear_faults()
    assert not answer.accepted, answer
    assert state.status is OrderStatus.COMPLETED
    assert state.step(Step.SHIP).status is StepStatus.SUCCEEDED
