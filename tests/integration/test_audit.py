"""`audit()` on the real stack: clean after every kind of ending, and it finds what was corrupted.

The tests share one stack and run in file order: the terminated order comes last."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from engine.errors import InvalidInput
from engine.models import FaultSettings, OrderInput, OrderStatus, ServiceName, Step
from engine.services.store import LEDGER_BUCKET, REQUESTS_BUCKET, record_key
from engine.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hold_seconds() -> float:
    return 4.0  # room to see an order in its hold on a busy machine


def order(quantity: int = 1) -> OrderInput:
    return OrderInput(
        order_id=uuid.uuid4().hex[:12],
        customer_id="cust-audit",
        items=[{"sku": "golang-book", "quantity": quantity, "unit_price_cents": 3999}],
    )


async def run(stack: Stack, placed: OrderInput) -> OrderStatus:
    await stack.facade.submit(placed)
    return (await stack.facade.result(placed.order_id)).status


async def test_every_ending_audits_clean_and_stock_changes_are_accounted(stack: Stack) -> None:
    ops = stack.facade
    assert await run(stack, order(2)) is OrderStatus.COMPLETED
    await ops.set_faults(ServiceName.SHIPPING, FaultSettings(decline_rate=1))
    try:
        assert await run(stack, order()) is OrderStatus.COMPENSATED  # reserved, charged, then undone
    finally:
        await ops.clear_faults()
    cancelled = order()
    await ops.submit(cancelled)
    await asyncio.sleep(0.5)
    assert (await ops.cancel(cancelled.order_id)).accepted
    assert (await ops.result(cancelled.order_id)).status is OrderStatus.COMPENSATED

    before = (await ops.services_snapshot()).stock["golang-book"]
    assert (await ops.add_stock("golang-book", 5)).units == before + 5
    assert (await ops.set_stock("golang-book", 40)).delta == 40 - (before + 5)
    with pytest.raises(InvalidInput, match="below 0"):
        await ops.add_stock("golang-book", -41)
    with pytest.raises(InvalidInput, match="unknown SKU"):
        await ops.set_stock("no-such-sku", 1)

    report = await ops.audit()
    assert report.clean, [d.message for d in report.discrepancies]
    assert report.ended >= 3 and report.records >= 3 * 3 + 2


async def test_a_corrupted_ledger_or_a_lost_record_is_reported(stack: Stack) -> None:
    ops = stack.facade
    placed = order()
    assert await run(stack, placed) is OrderStatus.COMPLETED
    js = stack.nc.jetstream()
    ledger = await js.key_value(LEDGER_BUCKET)
    entry = await ledger.get("totals")
    account = json.loads(entry.value)
    account["counters"]["charged_cents"] += 100
    await ledger.put("totals", json.dumps(account).encode())
    try:
        report = await ops.audit()
        assert [d.kind for d in report.discrepancies] == ["money"]
        assert "charged_cents" in report.discrepancies[0].message
        assert "drift +100" in report.discrepancies[0].message
    finally:
        await ledger.put("totals", entry.value)

    requests = await js.key_value(REQUESTS_BUCKET)
    key = record_key(placed.order_id, Step.CHARGE)
    charge = await requests.get(key)
    await requests.purge(key)
    try:
        report = await ops.audit()
        messages = [d.message for d in report.discrepancies]
        assert any(placed.order_id in m and "charged 0 cents, its total is 3999" in m for m in messages), messages
        assert any(d.kind == "double" for d in report.discrepancies), messages  # a change no record explains
    finally:
        await requests.put(key, charge.value)
    assert (await ops.audit()).clean


async def test_a_terminated_order_that_left_effects_needs_an_operator(stack: Stack) -> None:
    ops = stack.facade
    placed = order()
    await ops.submit(placed)
    for _ in range(400):  # into the hold: reserved and charged
        if (await ops.state(placed.order_id)).current_step == Step.HOLD:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the order never reached its hold")
    await ops.terminate(placed.order_id, "test")
    # The audit reads outcomes from Temporal's visibility, which learns of the terminate a moment later.
    for _ in range(100):
        listed = {summary.order_id: summary.status for summary in await ops.list_orders(limit=None)}
        if listed.get(placed.order_id) is OrderStatus.TERMINATED:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("visibility never listed the order as terminated")
    report = await ops.audit()
    assert [(d.kind, d.order_id) for d in report.discrepancies] == [("terminated", placed.order_id)]
    assert "3999 cents charged and golang-book x1 reserved" in report.discrepancies[0].message
