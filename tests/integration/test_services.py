"""The NATS services against a real nats-server with JetStream: state, idempotency, races, faults, stats."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import nats
import pytest
import pytest_asyncio
from nats.errors import TimeoutError as NatsTimeout

from engine.config import Settings
from engine.errors import InvalidInput, Unreachable
from engine.models import (
    CODE_BAD_REQUEST,
    CODE_OK,
    CODE_TRANSIENT,
    FaultSettings,
    LedgerTotals,
    ServiceName,
    ServiceReply,
    ServiceRequest,
    Step,
    idempotency_key,
)
from engine.services import (
    CODE_NOTHING_TO_REFUND,
    CODE_NOTHING_TO_RESTOCK,
    CODE_VOIDED,
    FAULTS_SUBJECT,
    FaultsClient,
    RunningServices,
    ping_services,
    services_snapshot,
    start_services,
)
from engine.services.effects import STOCK, AccountRef, Effects
from engine.services.inventory import stock_of
from engine.services.payment import LEDGER_ACCOUNT
from engine.services.store import Record, now, open_buckets, prepare_state, record_key

pytestmark = pytest.mark.integration

STEP_OF = {
    ServiceName.INVENTORY: Step.RESERVE,
    ServiceName.RESTOCK: Step.RESTOCK,
    ServiceName.PAYMENT: Step.CHARGE,
    ServiceName.REFUND: Step.REFUND,
    ServiceName.SHIPPING: Step.SHIP,
}
BOOK = {"sku": "book", "quantity": 2, "unit_price_cents": 1250}
PEN = {"sku": "pen", "quantity": 1, "unit_price_cents": 300}


@pytest.fixture
def settings(nats_url: str) -> Settings:
    return Settings(
        nats={"url": nats_url},
        catalogue={
            "book": {"name": "Book", "price_cents": 1250, "stock": 10},
            "pen": {"name": "Pen", "price_cents": 300, "stock": 5},
        },
    )


@pytest_asyncio.fixture
async def services(nc: nats.NATS, settings: Settings) -> AsyncIterator[RunningServices]:
    running = await start_services(nc, settings)
    try:
        yield running
    finally:
        await running.stop()


@pytest_asyncio.fixture
async def second(nats_url: str, settings: Settings) -> AsyncIterator[nats.NATS]:
    """Another process, as far as NATS can tell: its own connection and its own services."""
    connection = await nats.connect(nats_url)
    running = await start_services(connection, settings)
    try:
        yield connection
    finally:
        await running.stop()
        await connection.close()


def request_for(service: ServiceName, order_id: str, items: list[dict] | None = None) -> ServiceRequest:
    items = items if items is not None else [BOOK]
    return ServiceRequest(
        idempotency_key=idempotency_key(order_id, STEP_OF[service]),
        order_id=order_id,
        customer_id="c1",
        items=items,
        amount_cents=sum(item["quantity"] * item["unit_price_cents"] for item in items),
    )


async def call(
    nc: nats.NATS, service: ServiceName, order_id: str, items: list[dict] | None = None, timeout: float = 3.0
) -> ServiceReply:
    payload = request_for(service, order_id, items).model_dump_json().encode()
    message = await nc.request(service.subject, payload, timeout=timeout)
    return ServiceReply.model_validate_json(message.data)


async def raw_call(nc: nats.NATS, service: ServiceName, payload: bytes) -> ServiceReply:
    message = await nc.request(service.subject, payload, timeout=3.0)
    return ServiceReply.model_validate_json(message.data)


async def stock_and_ledger(nc: nats.NATS, settings: Settings) -> tuple[dict[str, int], LedgerTotals]:
    snapshot = await services_snapshot(nc, settings)
    return _ours(snapshot.stock), snapshot.ledger


def _ours(stock: dict[str, int]) -> dict[str, int]:
    """The SKUs of these tests (a config file may add its catalogue to theirs)."""
    return {sku: units for sku, units in stock.items() if sku in ("book", "pen", "mug")}


INITIAL_STOCK = {"book": 10, "pen": 5}


async def test_reserve_charge_ship_change_stock_and_ledger(nc, settings, services):
    for service in (ServiceName.INVENTORY, ServiceName.PAYMENT, ServiceName.SHIPPING):
        reply = await call(nc, service, "o1", [BOOK, PEN])
        assert reply.ok and reply.code == CODE_OK, reply

    stock, ledger = await stock_and_ledger(nc, settings)
    assert stock == {"book": 8, "pen": 4}
    assert ledger == LedgerTotals(charged_cents=2800, refunded_cents=0)


async def test_same_idempotency_key_twice_charges_once_with_the_same_reply(nc, settings, services):
    payload = request_for(ServiceName.PAYMENT, "o1").model_dump_json().encode()
    first = await nc.request(ServiceName.PAYMENT.subject, payload, timeout=3)
    again = await nc.request(ServiceName.PAYMENT.subject, payload, timeout=3)

    assert first.data == again.data
    assert ServiceReply.model_validate_json(first.data).ok
    assert again.headers and again.headers.get("Checkout-Replayed") == "true"
    _, ledger = await stock_and_ledger(nc, settings)
    assert ledger.charged_cents == 2500


async def test_concurrent_duplicates_apply_once(nc, settings, services, second):
    payload = request_for(ServiceName.PAYMENT, "o1").model_dump_json().encode()
    replies = await asyncio.gather(
        *(conn.request(ServiceName.PAYMENT.subject, payload, timeout=3) for conn in [nc, second] * 10)
    )
    codes = [ServiceReply.model_validate_json(reply.data).code for reply in replies]

    assert set(codes) == {CODE_OK}
    _, ledger = await stock_and_ledger(nc, settings)
    assert ledger.charged_cents == 2500


async def test_out_of_stock_declines_and_changes_nothing(nc, settings, services):
    too_many_pens = {**PEN, "quantity": 6}
    reply = await call(nc, ServiceName.INVENTORY, "o1", [BOOK, too_many_pens])
    assert (reply.ok, reply.code) == (False, "out_of_stock")
    assert "pen" in reply.message

    unknown = await call(nc, ServiceName.INVENTORY, "o2", [BOOK, {**PEN, "sku": "no-such-thing"}])
    assert (unknown.ok, unknown.code) == (False, "out_of_stock")
    assert "unknown SKU no-such-thing" in unknown.message

    stock, _ = await stock_and_ledger(nc, settings)
    assert stock == INITIAL_STOCK


async def test_concurrent_reservations_never_oversell(nc, settings, services, second):
    one_pen = [{**PEN, "quantity": 1}]
    replies = await asyncio.gather(
        *(call(conn, ServiceName.INVENTORY, f"o{i}", one_pen) for i, conn in enumerate([nc, second] * 10))
    )

    assert sum(reply.ok for reply in replies) == 5
    assert all(reply.code == "out_of_stock" for reply in replies if not reply.ok)
    stock, _ = await stock_and_ledger(nc, settings)
    assert stock["pen"] == 0


async def test_restock_and_refund_put_back_exactly_once(nc, settings, services):
    assert (await call(nc, ServiceName.INVENTORY, "o1", [BOOK, PEN])).ok
    assert (await call(nc, ServiceName.PAYMENT, "o1", [BOOK, PEN])).ok

    restocks = [await call(nc, ServiceName.RESTOCK, "o1", [BOOK, PEN]) for _ in range(3)]
    refunds = [await call(nc, ServiceName.REFUND, "o1", [BOOK, PEN]) for _ in range(3)]

    assert restocks[0].ok and restocks[0].data["restocked"] == {"book": 2, "pen": 1}
    assert refunds[0].ok and refunds[0].data["refunded_cents"] == 2800
    assert all(reply == restocks[0] for reply in restocks)
    assert all(reply == refunds[0] for reply in refunds)
    stock, ledger = await stock_and_ledger(nc, settings)
    assert stock == INITIAL_STOCK
    assert ledger == LedgerTotals(charged_cents=2800, refunded_cents=2800)


async def test_compensating_what_never_happened_is_a_no_op(nc, settings, services):
    restock = await call(nc, ServiceName.RESTOCK, "never")
    refund = await call(nc, ServiceName.REFUND, "never")
    assert (restock.ok, restock.code) == (True, CODE_NOTHING_TO_RESTOCK)
    assert (refund.ok, refund.code) == (True, CODE_NOTHING_TO_REFUND)

    declined = await call(nc, ServiceName.INVENTORY, "big", [{**PEN, "quantity": 50}])
    assert declined.code == "out_of_stock"
    assert (await call(nc, ServiceName.RESTOCK, "big", [{**PEN, "quantity": 50}])).code == CODE_NOTHING_TO_RESTOCK

    stock, ledger = await stock_and_ledger(nc, settings)
    assert stock == INITIAL_STOCK and ledger == LedgerTotals()


async def test_forward_request_after_its_compensation_is_voided(nc, settings, services):
    assert (await call(nc, ServiceName.RESTOCK, "o1")).code == CODE_NOTHING_TO_RESTOCK
    assert (await call(nc, ServiceName.REFUND, "o1")).code == CODE_NOTHING_TO_REFUND

    reserve = await call(nc, ServiceName.INVENTORY, "o1")
    charge = await call(nc, ServiceName.PAYMENT, "o1")

    assert (reserve.ok, reserve.code) == (False, CODE_VOIDED)
    assert (charge.ok, charge.code) == (False, CODE_VOIDED)
    stock, ledger = await stock_and_ledger(nc, settings)
    assert stock == INITIAL_STOCK and ledger == LedgerTotals()


async def test_compensation_that_overtakes_a_slow_forward_request_loses_nothing(nc, settings, services):
    faults = FaultsClient(nc)
    await faults.set(ServiceName.INVENTORY, FaultSettings(latency_ms=800))
    await faults.set(ServiceName.PAYMENT, FaultSettings(latency_ms=800))
    slow = asyncio.gather(call(nc, ServiceName.INVENTORY, "o1"), call(nc, ServiceName.PAYMENT, "o1"))
    await asyncio.sleep(0.2)  # the workflow gave up on them and compensates

    restock = await call(nc, ServiceName.RESTOCK, "o1")
    refund = await call(nc, ServiceName.REFUND, "o1")
    reserve, charge = await slow

    assert (restock.code, refund.code) == (CODE_NOTHING_TO_RESTOCK, CODE_NOTHING_TO_REFUND)
    assert (reserve.code, charge.code) == (CODE_VOIDED, CODE_VOIDED)
    stock, ledger = await stock_and_ledger(nc, settings)
    assert stock == INITIAL_STOCK and ledger == LedgerTotals()


# --- an attempt killed at each point of apply / decide / settle (see engine/services/effects.py) ---


async def effects_of(nc: nats.NATS) -> Effects:
    return Effects(await open_buckets(nc.jetstream()))


TWO_BOOKS = {stock_of("book"): {"units": -2, "reserved": 2, "ops": 1}}
BOOK_AND_PEN = {
    stock_of("book"): {"units": -2, "reserved": 2, "ops": 1},
    stock_of("pen"): {"units": -1, "reserved": 1, "ops": 1},
}


async def test_killed_after_applying_the_retry_adopts_the_effect(nc, settings, services):
    effects = await effects_of(nc)
    await effects.mark(record_key("o1", Step.RESERVE), TWO_BOOKS)  # then the process died: no record

    retried = await call(nc, ServiceName.INVENTORY, "o1")

    assert (retried.ok, retried.data["reserved"]) == (True, {"book": 2})
    stock, _ = await stock_and_ledger(nc, settings)
    assert stock == {"book": 8, "pen": 5}  # taken once
    assert await effects.unsettled() == []


async def test_killed_half_way_through_a_multi_sku_reservation_ends_all_or_nothing(nc, settings, services):
    effects = await effects_of(nc)
    key = record_key("o1", Step.RESERVE)
    await effects.mark(key, {stock_of("book"): BOOK_AND_PEN[stock_of("book")]})  # died before the pen

    retried = await call(nc, ServiceName.INVENTORY, "o1", [BOOK, PEN])
    assert retried.ok
    assert (await stock_and_ledger(nc, settings))[0] == {"book": 8, "pen": 4}

    await effects.mark(record_key("o2", Step.RESERVE), {stock_of("book"): BOOK_AND_PEN[stock_of("book")]})
    restock = await call(nc, ServiceName.RESTOCK, "o2", [BOOK, PEN])  # the saga gave up on o2: all of it goes
    assert (restock.ok, restock.code) == (True, CODE_NOTHING_TO_RESTOCK)
    assert (await stock_and_ledger(nc, settings))[0] == {"book": 8, "pen": 4}
    assert (await call(nc, ServiceName.INVENTORY, "o2", [BOOK, PEN])).code == CODE_VOIDED
    assert await effects.unsettled() == []


async def test_killed_after_applying_the_compensation_voids_the_effect(nc, settings, services):
    effects = await effects_of(nc)
    await effects.mark(record_key("o1", Step.CHARGE), {LEDGER_ACCOUNT: {"charged_cents": 2500, "ops": 1}})
    _, ledger = await stock_and_ledger(nc, settings)
    assert ledger.charged_cents == 2500  # charged, and nobody will ever answer for it

    refund = await call(nc, ServiceName.REFUND, "o1")

    assert (refund.ok, refund.code) == (True, CODE_NOTHING_TO_REFUND)
    _, ledger = await stock_and_ledger(nc, settings)
    assert ledger == LedgerTotals()
    assert (await call(nc, ServiceName.PAYMENT, "o1")).code == CODE_VOIDED  # a late retry changes nothing


async def test_killed_after_deciding_the_sweeper_settles(nc, settings, services):
    effects = await effects_of(nc)
    key = record_key("o1", Step.CHARGE)
    owners = await effects.mark(key, {LEDGER_ACCOUNT: {"charged_cents": 2500, "ops": 1}})
    effect = {str(LEDGER_ACCOUNT): {"charged_cents": 2500, "ops": 1}}
    record = Record(reply=ServiceReply(ok=True, code=CODE_OK), effects=effect, owners=owners, at=now())
    await effects.records.create(key, record)  # decided, then killed before settling

    assert len(await effects.unsettled()) == 1
    assert await effects.sweep(older_than=0) == 1
    assert await effects.unsettled() == []
    _, ledger = await stock_and_ledger(nc, settings)
    assert ledger.charged_cents == 2500  # the record counts it: it stays


async def test_a_late_attempt_after_the_outcome_was_decided_is_undone(nc, settings, services):
    effects = await effects_of(nc)
    assert (await call(nc, ServiceName.RESTOCK, "o1")).code == CODE_NOTHING_TO_RESTOCK  # voids the reserve
    await effects.mark(record_key("o1", Step.RESERVE), TWO_BOOKS)  # a paused attempt wakes up, then dies
    assert (await stock_and_ledger(nc, settings))[0]["book"] == 8

    assert await effects.sweep(older_than=0) == 1

    assert (await stock_and_ledger(nc, settings))[0] == INITIAL_STOCK


async def test_a_duplicate_attempt_that_applied_after_the_winner_settled_is_undone(nc, settings, services):
    effects = await effects_of(nc)
    assert (await call(nc, ServiceName.INVENTORY, "o1")).ok
    await effects.mark(record_key("o1", Step.RESERVE), TWO_BOOKS)  # a concurrent attempt applied again
    assert (await stock_and_ledger(nc, settings))[0]["book"] == 6

    await effects.sweep(older_than=0)

    assert (await stock_and_ledger(nc, settings))[0]["book"] == 8
    account = await effects.account(AccountRef(STOCK, "book"))
    assert account is not None and account.counters["ops"] == 1 and account.counters["reserved"] == 2


async def test_fault_settings_reach_every_process(nc, settings, services, second):
    started = time.monotonic()
    await FaultsClient(nc).set(ServiceName.PAYMENT, FaultSettings(error_rate=1.0))

    assert (await FaultsClient(second).get())[ServiceName.PAYMENT].error_rate == 1.0
    # Requests spread over both processes (queue group): every one of them must see the fault.
    deadline = started + 1.0
    while True:
        replies = await asyncio.gather(*(call(second, ServiceName.PAYMENT, "o1") for _ in range(20)))
        if all(reply.code == CODE_TRANSIENT for reply in replies) or time.monotonic() > deadline:
            break
    assert all(
        (reply.ok, reply.code, reply.message) == (False, CODE_TRANSIENT, "injected transient error")
        for reply in replies
    )
    assert time.monotonic() - started < 1.0

    cleared = await FaultsClient(second).clear()
    assert all(value.is_clear for value in cleared.values())
    await asyncio.sleep(0.1)
    # An injected error is not the stored answer: the retry succeeds, and charges once.
    retry = await call(nc, ServiceName.PAYMENT, "o1")
    assert retry.ok
    _, ledger = await stock_and_ledger(nc, settings)
    assert ledger.charged_cents == 2500


async def test_declines_are_final_answers(nc, settings, services):
    faults = FaultsClient(nc)
    await faults.set(ServiceName.SHIPPING, FaultSettings(decline_rate=1.0))
    await faults.set(ServiceName.PAYMENT, FaultSettings(decline_rate=1.0))
    await faults.set(ServiceName.INVENTORY, FaultSettings(decline_rate=1.0))
    await asyncio.sleep(0.1)
    codes = [(await call(nc, service, "o1")).code for service in STEP_OF if not service.is_compensation]
    assert codes == ["out_of_stock", "card_declined", "undeliverable"]

    await faults.clear()
    await asyncio.sleep(0.1)
    assert (await call(nc, ServiceName.PAYMENT, "o1")).code == "card_declined"  # the first answer stands
    stock, ledger = await stock_and_ledger(nc, settings)
    assert stock == INITIAL_STOCK and ledger == LedgerTotals()


async def test_latency_on_one_request_does_not_hold_up_others(nc, settings, services):
    faults = FaultsClient(nc)
    await faults.set(ServiceName.SHIPPING, FaultSettings(latency_ms=500))
    await asyncio.sleep(0.1)

    started = time.monotonic()
    replies = await asyncio.gather(*(call(nc, ServiceName.SHIPPING, f"o{i}") for i in range(20)))
    elapsed = time.monotonic() - started
    assert all(reply.ok for reply in replies)
    assert 0.5 <= elapsed < 3.0, elapsed  # one at a time would take 10 s

    await faults.set(ServiceName.SHIPPING, FaultSettings(latency_ms=1500))
    await asyncio.sleep(0.1)
    slow = asyncio.create_task(call(nc, ServiceName.SHIPPING, "slow"))
    await asyncio.sleep(0.1)
    await faults.clear()
    await asyncio.sleep(0.1)
    started = time.monotonic()
    assert (await call(nc, ServiceName.SHIPPING, "fast")).ok
    assert time.monotonic() - started < 1.0
    assert not slow.done()
    assert (await slow).ok


async def test_a_down_service_does_not_answer(nc, settings, services):
    faults = FaultsClient(nc)
    await faults.set(ServiceName.SHIPPING, FaultSettings(down=True))
    await asyncio.sleep(0.1)
    with pytest.raises(NatsTimeout):
        await call(nc, ServiceName.SHIPPING, "o1", timeout=0.5)
    assert (await call(nc, ServiceName.PAYMENT, "o1")).ok  # only that endpoint is down

    await faults.clear()
    await asyncio.sleep(0.1)
    assert (await call(nc, ServiceName.SHIPPING, "o1")).ok


async def test_malformed_requests_are_answered_bad_request(nc, settings, services):
    valid = request_for(ServiceName.PAYMENT, "o1").model_dump()
    malformed = {
        "not json": b"{nope",
        "not an object": b"[1, 2]",
        "wrong type": json.dumps({**valid, "amount_cents": "2500"}).encode(),
        "missing field": json.dumps({k: v for k, v in valid.items() if k != "items"}).encode(),
        "bad order id": json.dumps({**valid, "order_id": "a b", "idempotency_key": "a b:charge"}).encode(),
        "key of another step": json.dumps({**valid, "idempotency_key": "o1:refund"}).encode(),
        "too deep": b"[" * 50_000,
        "oversized": json.dumps({**valid, "customer_id": "x" * (settings.nats.max_request_bytes + 1)}).encode(),
        "not utf-8": b"\xff\xfe{}",
    }
    messages = {}
    for name, payload in malformed.items():
        reply = await raw_call(nc, ServiceName.PAYMENT, payload)
        assert (reply.ok, reply.code) == (False, CODE_BAD_REQUEST), name
        assert reply.message and "\n" not in reply.message, name
        messages[name] = reply.message
    assert messages["oversized"] == f"request is larger than {settings.nats.max_request_bytes} bytes"
    assert messages["wrong type"].startswith("amount_cents: ")
    assert messages["key of another step"] == "idempotency_key must be '<order_id>:charge' on service.payment"

    assert (await call(nc, ServiceName.PAYMENT, "o1")).ok
    _, ledger = await stock_and_ledger(nc, settings)
    assert ledger.charged_cents == 2500


async def test_invalid_fault_settings_are_rejected_on_both_sides(nc, settings, services):
    client = FaultsClient(nc)
    with pytest.raises(InvalidInput, match=r"^payment\.error_rate: must be between 0 and 1$"):
        await client.set(ServiceName.PAYMENT, FaultSettings.model_construct(error_rate=2.0))
    with pytest.raises(InvalidInput, match=r"^refund\.decline_rate: "):
        await client.set(ServiceName.REFUND, FaultSettings(decline_rate=0.5))
    with pytest.raises(InvalidInput, match=r"^unknown service 'bank'"):
        await client.set("bank", FaultSettings())

    async def control(request: dict) -> ServiceReply:
        message = await nc.request(FAULTS_SUBJECT, json.dumps(request).encode(), timeout=2)
        return ServiceReply.model_validate_json(message.data)

    answers = {
        "payment.error_rate: must be between 0 and 1": {"service": "payment", "settings": {"error_rate": 2}},
        "restock.decline_rate: a compensation never declines; use error_rate, latency_ms or down": {
            "service": "restock",
            "settings": {"decline_rate": 0.1},
        },
        "shipping.latency_ms: must be a whole number of milliseconds between 0 and 60000": {
            "service": "shipping",
            "settings": {"latency_ms": -5},
        },
    }
    for message, request in answers.items():
        reply = await control({"action": "set", **request})
        assert (reply.ok, reply.code, reply.message) == (False, CODE_BAD_REQUEST, message)
    assert (await control({"action": "explode"})).code == CODE_BAD_REQUEST
    assert all(value.is_clear for value in (await client.get()).values())


async def test_faults_client_without_services_is_unreachable(nc):
    with pytest.raises(Unreachable) as error:
        await FaultsClient(nc, timeout=0.5).get()
    assert error.value.message == "no checkout service answers on checkout.control.faults: is a worker running?"


async def test_services_are_discoverable_and_counted(nc, settings, services, second):
    assert await ping_services(nc) == {"inventory": True, "payment": True, "shipping": True, "control": True}

    await call(nc, ServiceName.INVENTORY, "o1")
    await call(nc, ServiceName.INVENTORY, "o1")  # a repeat is a request too
    await call(nc, ServiceName.INVENTORY, "o2", [{**PEN, "quantity": 99}])
    await raw_call(nc, ServiceName.INVENTORY, b"garbage")
    await call(nc, ServiceName.SHIPPING, "o1")

    snapshot = await services_snapshot(nc, settings)
    by_endpoint = {stats.endpoint: stats for stats in snapshot.endpoints}
    assert set(by_endpoint) == {service.value for service in ServiceName}
    inventory = by_endpoint["inventory"]
    assert (inventory.service, inventory.instances) == ("inventory", 2)
    assert (inventory.requests, inventory.errors, inventory.declines) == (4, 1, 1)
    assert by_endpoint["shipping"].requests == 1
    assert by_endpoint["refund"].requests == 0
    assert _ours(snapshot.stock) == {"book": 8, "pen": 5}


async def test_preparing_state_again_never_overwrites_stock(nc, settings, services):
    assert (await call(nc, ServiceName.INVENTORY, "o1")).ok
    more = settings.model_copy(
        update={"catalogue": {**settings.catalogue, "mug": settings.catalogue["pen"].model_copy(update={"stock": 3})}}
    )
    await prepare_state(nc.jetstream(), more)

    stock, _ = await stock_and_ledger(nc, settings)
    assert stock == {"book": 8, "mug": 3, "pen": 5}


async def test_stop_does_not_wait_for_injected_delays(nc, settings):
    running = await start_services(nc, settings)
    await FaultsClient(nc).set(ServiceName.SHIPPING, FaultSettings(latency_ms=30_000))
    await asyncio.sleep(0.1)
    pending = asyncio.create_task(call(nc, ServiceName.SHIPPING, "o1", timeout=1.5))
    await asyncio.sleep(0.1)

    started = time.monotonic()
    await running.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(NatsTimeout):
        await pending


async def test_racing_forward_steps_and_compensations_lose_nothing(nc, settings, services, second):
    """Every order is reserved, charged, restocked and refunded at once, through two processes."""
    faults = FaultsClient(nc)
    for service in ServiceName:
        await faults.set(service, FaultSettings(latency_ms=0, jitter_ms=150, error_rate=0.2))
    await asyncio.sleep(0.1)
    one_book = [{**BOOK, "quantity": 1}]

    async def until_final(conn: nats.NATS, service: ServiceName, order_id: str) -> ServiceReply:
        while True:
            reply = await call(conn, service, order_id, one_book)
            if reply.code != CODE_TRANSIENT:
                return reply

    async def order(i: int) -> list[ServiceReply]:
        a, b = (nc, second) if i % 2 else (second, nc)
        return await asyncio.gather(
            until_final(a, ServiceName.INVENTORY, f"o{i}"),
            until_final(b, ServiceName.RESTOCK, f"o{i}"),
            until_final(b, ServiceName.PAYMENT, f"o{i}"),
            until_final(a, ServiceName.REFUND, f"o{i}"),
        )

    outcomes = await asyncio.gather(*(order(i) for i in range(10)))
    await faults.clear()

    for reserve, restock, charge, refund in outcomes:
        assert reserve.code in (CODE_OK, CODE_VOIDED)
        assert restock.code == (CODE_OK if reserve.ok else CODE_NOTHING_TO_RESTOCK)
        assert charge.code in (CODE_OK, CODE_VOIDED)
        assert refund.code == (CODE_OK if charge.ok else CODE_NOTHING_TO_REFUND)
    stock, ledger = await stock_and_ledger(nc, settings)
    assert stock == INITIAL_STOCK
    assert ledger.net_cents == 0
