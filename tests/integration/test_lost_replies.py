"""Lost replies (`lost_reply_rate`): the service applies the effect and stores the answer, then
sends nothing. On a real nats-server, each endpoint's retry gets the stored answer and nothing
applies twice; on the real embedded stack, the saga stays exactly-once with lost replies on
every step: every order ends, no money or stock drifts, the audit is clean."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import nats
import pytest
import pytest_asyncio
from nats.errors import TimeoutError as NatsTimeout

from engine.config import Settings
from engine.models import (
    CODE_BAD_REQUEST,
    CODE_TRANSIENT,
    EndpointStats,
    FaultSettings,
    OrderInput,
    OrderStatus,
    Reason,
    SagaState,
    ServiceName,
    ServiceRequest,
    ServicesSnapshot,
    Step,
    idempotency_key,
)
from engine.services import FaultsClient, RunningServices, services_snapshot, start_services
from engine.services.endpoint import REPLAY_HEADER
from engine.stack import Stack

pytestmark = pytest.mark.integration

BOOK = {"sku": "book", "quantity": 2, "unit_price_cents": 1250}


# --- one endpoint at a time, on a real nats-server ----------------------------------------------


@pytest.fixture
def settings(nats_url: str) -> Settings:
    return Settings(nats={"url": nats_url}, catalogue={"book": {"name": "Book", "price_cents": 1250, "stock": 10}})


@pytest_asyncio.fixture
async def services(nc: nats.NATS, settings: Settings) -> AsyncIterator[RunningServices]:
    running = await start_services(nc, settings)
    try:
        yield running
    finally:
        await running.stop()


def payload(service: ServiceName, order_id: str) -> bytes:
    request = ServiceRequest(
        idempotency_key=idempotency_key(order_id, service.endpoint.step),
        order_id=order_id,
        customer_id="c1",
        items=[BOOK],
        amount_cents=2500,
    )
    return request.model_dump_json().encode()


async def call(nc: nats.NATS, service: ServiceName, order_id: str, timeout: float = 2.0) -> nats.aio.msg.Msg:
    return await nc.request(service.subject, payload(service, order_id), timeout=timeout)


async def lose_replies(nc: nats.NATS, service: ServiceName, rate: float) -> None:
    await FaultsClient(nc).set(service, FaultSettings(lost_reply_rate=rate))
    await asyncio.sleep(0.1)  # the services' watch applies it


async def stats_of(nc: nats.NATS, settings: Settings, service: ServiceName) -> EndpointStats:
    snapshot = await services_snapshot(nc, settings)
    return next(stats for stats in snapshot.endpoints if stats.endpoint == service.value)


async def book_and_ledger(nc: nats.NATS, settings: Settings) -> tuple[int, int, int]:
    snapshot = await services_snapshot(nc, settings)
    return snapshot.stock["book"], snapshot.ledger.charged_cents, snapshot.ledger.refunded_cents


# What each endpoint's request does to (book units, charged, refunded), after a charge and a reservation.
EFFECT = {
    ServiceName.INVENTORY: (-2, 0, 0),
    ServiceName.PAYMENT: (0, 2500, 0),
    ServiceName.SHIPPING: (0, 0, 0),
    ServiceName.REFUND: (0, 0, 2500),
    ServiceName.RESTOCK: (2, 0, 0),
}


@pytest.mark.parametrize("service", list(ServiceName))
async def test_a_lost_reply_applies_once_and_the_retry_gets_the_stored_answer(nc, settings, services, service):
    if service.is_compensation:  # something to undo first: a reservation and a charge
        for forward in (ServiceName.INVENTORY, ServiceName.PAYMENT):
            assert json_reply(await call(nc, forward, "o1"))["ok"]
    before = await book_and_ledger(nc, settings)
    await lose_replies(nc, service, 1.0)
    for _ in range(2):  # the first attempt and a retry: both applied once, both unanswered
        with pytest.raises(NatsTimeout):
            await call(nc, service, "o1", timeout=0.5)
    after = await book_and_ledger(nc, settings)
    assert tuple(a - b for a, b in zip(after, before, strict=True)) == EFFECT[service]

    await lose_replies(nc, service, 0.0)
    answer = await call(nc, service, "o1")
    reply = json_reply(answer)
    assert reply["ok"], reply
    assert answer.headers == {REPLAY_HEADER: "true"}  # the stored answer, not a new one
    assert await book_and_ledger(nc, settings) == after
    stats = await stats_of(nc, settings, service)
    assert (stats.requests, stats.lost_replies, stats.errors, stats.declines) == (3, 2, 0, 0)


async def test_a_lost_decline_is_still_the_final_answer(nc, settings, services):
    await FaultsClient(nc).set(ServiceName.PAYMENT, FaultSettings(decline_rate=1.0, lost_reply_rate=1.0))
    await asyncio.sleep(0.1)
    with pytest.raises(NatsTimeout):
        await call(nc, ServiceName.PAYMENT, "o1", timeout=0.5)
    await lose_replies(nc, ServiceName.PAYMENT, 0.0)
    reply = json_reply(await call(nc, ServiceName.PAYMENT, "o1"))
    assert (reply["ok"], reply["code"]) == (False, Reason.CARD_DECLINED.value)
    assert await book_and_ledger(nc, settings) == (10, 0, 0)
    stats = await stats_of(nc, settings, ServiceName.PAYMENT)
    assert (stats.requests, stats.lost_replies, stats.declines) == (2, 1, 2)


async def test_answers_that_decided_nothing_are_never_lost(nc, settings, services):
    """An injected error and a malformed request apply nothing: losing their reply would be `down`."""
    await FaultsClient(nc).set(ServiceName.PAYMENT, FaultSettings(error_rate=1.0, lost_reply_rate=1.0))
    await asyncio.sleep(0.1)
    assert json_reply(await call(nc, ServiceName.PAYMENT, "o1"))["code"] == CODE_TRANSIENT
    await lose_replies(nc, ServiceName.PAYMENT, 1.0)
    malformed = await nc.request(ServiceName.PAYMENT.subject, b"{nope", timeout=2.0)
    assert json_reply(malformed)["code"] == CODE_BAD_REQUEST
    stats = await stats_of(nc, settings, ServiceName.PAYMENT)
    assert (stats.requests, stats.lost_replies, stats.errors) == (2, 0, 2)
    assert await book_and_ledger(nc, settings) == (10, 0, 0)


def json_reply(message: nats.aio.msg.Msg) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(message.data)
    return decoded


# --- the saga, on the real embedded stack -----------------------------------------------------

PRICE = 3999


def an_order(quantity: int = 1) -> OrderInput:
    return OrderInput(
        order_id=f"lost-{uuid.uuid4().hex[:10]}",
        customer_id="lost-replies",
        items=[{"sku": "golang-book", "quantity": quantity, "unit_price_cents": PRICE}],
    )


def lost_on(snapshot: ServicesSnapshot, service: ServiceName) -> int:
    return next(stats.lost_replies for stats in snapshot.endpoints if stats.endpoint == service.value)


def moved(before: ServicesSnapshot, after: ServicesSnapshot) -> tuple[int, int, int]:
    """What happened between two snapshots: (golang-book units, charged, refunded)."""
    return (
        after.stock["golang-book"] - before.stock["golang-book"],
        after.ledger.charged_cents - before.ledger.charged_cents,
        after.ledger.refunded_cents - before.ledger.refunded_cents,
    )


async def assert_audit_clean(stack: Stack) -> None:
    report = await stack.facade.audit()
    assert report.clean, [d.message for d in report.discrepancies]
    assert report.in_flight == 0


# Every attempt of the step applies once and is never answered: the retries run out, and the
# saga compensates what the step did (a shipment cannot be undone: the order completes).
FORWARD = {
    ServiceName.INVENTORY: (OrderStatus.COMPENSATED, Reason.RETRIES_EXHAUSTED, (0, 0, 0)),
    ServiceName.PAYMENT: (OrderStatus.COMPENSATED, Reason.RETRIES_EXHAUSTED, (0, 2 * PRICE, 2 * PRICE)),
    ServiceName.SHIPPING: (OrderStatus.COMPLETED, None, (-2, 2 * PRICE, 0)),
}


@pytest.mark.parametrize("service", list(FORWARD))
async def test_a_forward_step_whose_every_reply_is_lost_is_compensated_exactly_once(stack: Stack, service) -> None:
    ops = stack.facade
    before = await ops.services_snapshot()
    await ops.set_faults(service, FaultSettings(lost_reply_rate=1))
    try:
        placed = an_order(quantity=2)
        await ops.submit(placed)
        state = await ops.result(placed.order_id)
    finally:
        await ops.clear_faults()
    after = await ops.services_snapshot()
    status, reason, effect = FORWARD[service]
    assert (state.status, state.reason) == (status, reason)
    step = state.step(service.endpoint.step)
    attempts = stack.settings.retry.maximum_attempts
    assert step is not None and step.attempts == attempts
    assert moved(before, after) == effect
    assert lost_on(after, service) - lost_on(before, service) == attempts
    await assert_audit_clean(stack)


async def wait_for_attempts(stack: Stack, order_id: str, step: Step, attempts: int, timeout: float = 30) -> SagaState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await stack.facade.state(order_id)
        found = state.step(step)
        if found is not None and found.attempts >= attempts:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id}: {step.value} never reached {attempts} attempts")


async def test_compensations_whose_replies_are_lost_undo_exactly_once(stack: Stack) -> None:
    """A compensation retries until it is answered: each lost reply is a retry that gets the stored answer."""
    ops = stack.facade
    before = await ops.services_snapshot()
    await ops.set_faults(ServiceName.SHIPPING, FaultSettings(decline_rate=1))  # every order compensates
    await ops.set_faults(ServiceName.REFUND, FaultSettings(lost_reply_rate=1))
    await ops.set_faults(ServiceName.RESTOCK, FaultSettings(lost_reply_rate=1))
    try:
        placed = an_order(quantity=3)
        await ops.submit(placed)
        await wait_for_attempts(stack, placed.order_id, Step.REFUND, 3)
        await ops.set_faults(ServiceName.REFUND, FaultSettings())
        await wait_for_attempts(stack, placed.order_id, Step.RESTOCK, 3)
        await ops.set_faults(ServiceName.RESTOCK, FaultSettings())
        state = await asyncio.wait_for(ops.result(placed.order_id), 30)
    finally:
        await ops.clear_faults()
    after = await ops.services_snapshot()
    assert (state.status, state.reason) == (OrderStatus.COMPENSATED, Reason.UNDELIVERABLE)
    assert moved(before, after) == (0, 3 * PRICE, 3 * PRICE)  # charged once, refunded once, restocked once
    for service in (ServiceName.REFUND, ServiceName.RESTOCK):
        assert lost_on(after, service) - lost_on(before, service) >= 2, service
    await assert_audit_clean(stack)


async def test_lost_replies_on_every_endpoint_lose_no_money_and_no_stock(stack: Stack) -> None:
    """Lost replies on all five endpoints at once, with declines and cancels: every order ends,
    the ledger's net is what the completed orders cost, the stock what they took."""
    ops = stack.facade
    before = await ops.services_snapshot()
    for service in ServiceName:
        declines = 0.3 if service is ServiceName.SHIPPING else 0.0
        await ops.set_faults(service, FaultSettings(lost_reply_rate=0.3, decline_rate=declines))
    orders = [an_order(quantity=1 + index % 3) for index in range(12)]
    try:
        for placed in orders:
            await ops.submit(placed)
        cancels = [await ops.cancel(placed.order_id) for placed in orders[:3]]  # at once or during the hold
        states = await asyncio.wait_for(asyncio.gather(*(ops.result(o.order_id) for o in orders)), 120)
    finally:
        await ops.clear_faults()
    after = await ops.services_snapshot()
    assert all(state.status.is_terminal for state in states)
    assert all(state.status in (OrderStatus.COMPLETED, OrderStatus.COMPENSATED) for state in states)
    completed = [placed for placed, state in zip(orders, states, strict=True) if state.status is OrderStatus.COMPLETED]
    units, charged, refunded = moved(before, after)
    assert charged - refunded == sum(placed.total_cents for placed in completed)
    assert units == -sum(item.quantity for placed in completed for item in placed.items)
    lost = Counter({service: lost_on(after, service) - lost_on(before, service) for service in ServiceName})
    assert sum(lost.values()) > 0, lost
    for answer, state in zip(cancels, states, strict=False):  # a cancel accepted is an order compensated
        assert state.status is OrderStatus.COMPENSATED or not answer.accepted, (answer, state.status)
    await assert_audit_clean(stack)
