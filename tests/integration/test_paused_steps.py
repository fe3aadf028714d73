"""Pausing a step on real servers: 50 orders held before charge across worker restarts, then
released at the asked rate, every one completed, the audit clean; and the CLI's commands."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from engine.models import EventKind, OrderInput, OrderStatus, SagaState, Step, StepStatus
from engine.operations import Operations
from engine.stack import Stack
from tests.integration.test_cli import assert_one_line_error, checkout
from tests.support.stack import stack_settings

pytestmark = pytest.mark.integration

ORDERS = 50
RATE = 10.0


def an_order(index: int) -> OrderInput:
    return OrderInput(
        order_id=f"paused-{index}-{uuid.uuid4().hex[:6]}",
        customer_id="pause-test",
        items=[{"sku": "golang-book", "quantity": 1, "unit_price_cents": 3999}],
    )


async def until_all_paused(ops: Operations, order_ids: list[str], timeout: float = 60) -> list[SagaState]:
    async with asyncio.timeout(timeout):
        while True:
            states = await asyncio.gather(*(ops.state(order_id) for order_id in order_ids))
            if all(state.paused_before is Step.CHARGE for state in states):
                return list(states)
            await asyncio.sleep(0.2)


def worker_stack(base: Stack) -> Stack:
    """A worker process of its own on the base stack's servers (no services: those stay up)."""
    return Stack(base.settings.connecting_only(), services=False)


async def test_fifty_orders_paused_before_charge_survive_worker_restarts_and_go_on_at_the_rate(
    tmp_path: Path,
) -> None:
    settings = stack_settings(tmp_path / "stack", saga={"hold_seconds": 0, "step_timeout_seconds": 2})
    async with Stack(settings, worker=False) as base:  # the servers and the services
        ops = base.facade
        workers = worker_stack(base)
        await workers.start()
        try:
            pause = await ops.pause_step(Step.CHARGE, "payment provider down")
            assert pause.reason == "payment provider down"
            assert await ops.pauses() == {Step.CHARGE: pause}
            orders = [an_order(index) for index in range(ORDERS)]
            for order in orders[: ORDERS // 2]:
                await ops.submit(order)
            order_ids = [order.order_id for order in orders]
            await until_all_paused(ops, order_ids[: ORDERS // 2])

            # The worker goes and another comes: the waiting orders are in Temporal, the pause in KV.
            await workers.stop()
            for order in orders[ORDERS // 2 :]:  # started with no worker, while paused: they wait too
                await ops.submit(order)
            workers = worker_stack(base)
            await workers.start()
            states = await until_all_paused(ops, order_ids)
            assert {state.shown_status for state in states} == {"PAUSED before charge"}
            assert {state.step(Step.CHARGE).status for state in states} == {StepStatus.PAUSED}
            assert (await ops.services_snapshot()).ledger.charged_cents == 0  # no charge went out
            await workers.stop()
            workers = worker_stack(base)
            await workers.start()

            assert await ops.resume_step(Step.CHARGE, RATE) == ORDERS
            finals = await asyncio.wait_for(asyncio.gather(*(ops.result(order_id) for order_id in order_ids)), 120)
            assert await ops.pauses() == {}

            assert [state.status for state in finals] == [OrderStatus.COMPLETED] * ORDERS
            snapshot = await ops.services_snapshot()
            assert snapshot.ledger.charged_cents == ORDERS * 3999 and snapshot.ledger.refunded_cents == 0
            charges = sorted(state.step(Step.CHARGE).started_at for state in finals)
            span = (charges[-1] - charges[0]).total_seconds()
            # 49 gaps of 1/rate on average, each between half and one and a half of it: neither
            # faster than the rate, nor much slower (a worker may lag, a little).
            assert 0.8 * (ORDERS - 1) / RATE <= span <= 1.5 * (ORDERS - 1) / RATE + 3, span
            busiest = max(
                sum(1 for other in charges if 0 <= (other - first).total_seconds() < 1.0) for first in charges
            )
            assert busiest <= 2 * RATE, busiest
            assert all(state.step(Step.CHARGE).attempts == 1 for state in finals)  # a pause is no attempt

            events = await ops.order_events(order_ids[0])
            charge = [event.kind for event in events if event.step == Step.CHARGE.value]
            assert charge == [EventKind.PAUSED, EventKind.RELEASED, EventKind.STARTED, EventKind.SUCCEEDED]
            assert next(event for event in events if event.kind is EventKind.PAUSED).error == "payment provider down"

            report = await ops.audit()
            assert report.clean, report.discrepancies
        finally:
            await workers.stop()


async def test_pause_show_cancel_and_resume_from_the_command_line(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "stack", saga={"hold_seconds": 0, "step_timeout_seconds": 2})
    async with Stack(settings) as stack:
        result = await asyncio.to_thread(checkout, stack, "pause", "charge", "--reason", "provider down")
        assert result.returncode == 0, result.stderr
        assert "charge paused" in result.stdout
        listing = await asyncio.to_thread(checkout, stack, "pause")
        assert "charge" in listing.stdout and "provider down" in listing.stdout

        waiting, cancelled = an_order(1), an_order(2)
        for order in (waiting, cancelled):
            await stack.facade.submit(order)
        await until_all_paused(stack.facade, [waiting.order_id, cancelled.order_id])
        shown = await asyncio.to_thread(checkout, stack, "show", waiting.order_id)
        assert "status PAUSED before charge" in shown.stdout, shown.stdout

        answer = await asyncio.to_thread(checkout, stack, "cancel", cancelled.order_id)
        assert answer.returncode == 0, answer.stderr
        state = await stack.facade.result(cancelled.order_id)
        assert state.status is OrderStatus.COMPENSATED and state.step(Step.CHARGE).status is StepStatus.CANCELLED

        assert_one_line_error(await asyncio.to_thread(checkout, stack, "resume", "hold"), 2, "cannot be paused")
        assert_one_line_error(
            await asyncio.to_thread(checkout, stack, "resume", "charge", "--rate", "0"), 2, "--rate must be"
        )
        read_only = await asyncio.to_thread(checkout, stack, "--read-only", "resume", "charge")
        assert_one_line_error(read_only, 2, "read-only")
        assert (await stack.facade.pauses()).keys() == {Step.CHARGE}  # refusals changed nothing

        resumed = await asyncio.to_thread(checkout, stack, "resume", "charge", "--rate", "50/s")
        assert resumed.returncode == 0, resumed.stderr
        assert "charge resumed" in resumed.stdout
        assert (await stack.facade.result(waiting.order_id)).status is OrderStatus.COMPLETED
        assert_one_line_error(await asyncio.to_thread(checkout, stack, "resume", "charge"), 2, "not paused")
        report = await stack.facade.audit()
        assert report.clean, report.discrepancies
