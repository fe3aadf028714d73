"""Hostile requests to every service subject and to the faults control, property-tested against a
real nats-server and the real services: every request is answered with `{"ok", "code", "message"}`,
and stock, ledger and faults change only as a valid request says, never for an invalid one."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config import Settings
from engine.models import LedgerTotals, ServiceName
from engine.services import FAULTS_SUBJECT, start_services
from engine.services.queries import ledger_totals, read_stock
from tests.support.hostile import (
    JSON_NUMBERS_OVERFLOW,
    REQUEST_KEYS,
    hostile_ids,
    is_request,
    items,
    json_values,
    total_cents,
    valid_ids,
)
from tests.support.servers import NatsServer

pytestmark = pytest.mark.integration

T = TypeVar("T")
STEP_OF = {
    ServiceName.INVENTORY: "reserve",
    ServiceName.RESTOCK: "restock",
    ServiceName.PAYMENT: "charge",
    ServiceName.REFUND: "refund",
    ServiceName.SHIPPING: "ship",
}
CATALOGUE = {
    "book": {"name": "Book", "price_cents": 1250, "stock": 10**9},
    "pen": {"name": "Pen", "price_cents": 300, "stock": 30},  # runs out: declines happen too
}
SKUS = st.sampled_from(["book", "pen", "book", "no-such-sku"])


@dataclass
class Harness:
    """A real nats-server and the real services, driven from this test's own event loop
    (hypothesis calls the test body once per example, synchronously)."""

    loop: asyncio.AbstractEventLoop
    nc: nats.NATS

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    server = NatsServer(tmp_path_factory.mktemp("hostile") / "js")
    server.start()
    loop = asyncio.new_event_loop()
    try:
        nc = loop.run_until_complete(nats.connect(server.url))
        services = loop.run_until_complete(start_services(nc, Settings(nats={"url": server.url}, catalogue=CATALOGUE)))
        try:
            yield Harness(loop, nc)
        finally:
            loop.run_until_complete(services.stop())
            loop.run_until_complete(nc.close())
    finally:
        loop.close()
        server.stop()


async def ask(nc: nats.NATS, subject: str, payload: bytes) -> dict[str, Any]:
    """Send a request; the reply must come, and parse as `{"ok": bool, "code": str, "message": str, ...}`."""
    message = await nc.request(subject, payload, timeout=5)
    reply = json.loads(message.data)
    assert isinstance(reply, dict), reply
    assert isinstance(reply.get("ok"), bool) and isinstance(reply.get("code"), str), reply
    assert isinstance(reply.get("message"), str) and "\n" not in reply["message"], reply
    return reply


async def state(nc: nats.NATS) -> tuple[dict[str, int], LedgerTotals]:
    js = nc.jetstream()
    stock = await read_stock(js)
    return {sku: stock[sku] for sku in CATALOGUE}, await ledger_totals(js)


# --- the service requests ------------------------------------------------------------------


@dataclass
class Model:
    """What the services must have done so far, for the orders of one example."""

    stock: dict[str, int]
    ledger: LedgerTotals
    records: set[tuple[str, str]] = field(default_factory=set)  # (order, step): answered once, for good
    reserved: dict[str, Counter[str]] = field(default_factory=dict)
    charged: dict[str, int] = field(default_factory=dict)
    shipped: set[str] = field(default_factory=set)

    def apply(self, step: str, request: dict[str, Any]) -> bool | None:
        """Apply a valid request; return whether it should be answered ok (None: a replay, any answer)."""
        order = request["order_id"]
        if (order, step) in self.records:
            return None
        self.records.add((order, step))
        if step in ("restock", "refund"):
            # A compensation decides the shipment first (voided unless it happened), then its
            # forward step (voided unless it happened), and undoes only what did happen.
            if (order, "ship") not in self.records:
                self.records.add((order, "ship"))
            elif order in self.shipped:
                return True  # shipped: nothing is undone
            self.records.add((order, "reserve" if step == "restock" else "charge"))
        if step == "reserve":
            wanted = Counter[str]()
            for item in request["items"]:
                wanted[item["sku"]] += item["quantity"]
            if any(sku not in self.stock or self.stock[sku] < units for sku, units in wanted.items()):
                return False  # out of stock, or unknown SKU
            for sku, units in wanted.items():
                self.stock[sku] -= units
            self.reserved[order] = wanted
        elif step == "charge":
            self.ledger.charged_cents += request["amount_cents"]
            self.charged[order] = request["amount_cents"]
        elif step == "ship":
            self.shipped.add(order)
        elif step == "restock":
            for sku, units in self.reserved.pop(order, Counter()).items():
                self.stock[sku] += units
        elif step == "refund":
            self.ledger.refunded_cents += self.charged.pop(order, 0)
        return True


@st.composite
def service_requests(draw: st.DrawFn, orders: list[str]) -> tuple[ServiceName, bytes, dict[str, Any] | None]:
    """(endpoint, payload, the JSON object sent if any): valid, or hostile in one way."""
    service = draw(st.sampled_from(list(ServiceName)))
    step = STEP_OF[service]
    way = draw(
        st.sampled_from(
            ["valid", "valid", "valid", "field", "items", "amount", "key", "extra", "missing", "bytes", "json", "big"]
        )
    )
    if way == "bytes":
        return service, draw(st.binary(max_size=200)), None
    if way == "json":
        value = draw(json_values.filter(lambda v: not isinstance(v, dict)))
        return service, json.dumps(value).encode(), None
    order_id = draw(st.sampled_from(orders))
    line_items = draw(items(SKUS, hostile=way == "items"))
    try:
        amount = total_cents(line_items)
    except (TypeError, KeyError):
        amount = 0
    request: dict[str, Any] = {
        "idempotency_key": f"{order_id}:{step}",
        "order_id": order_id,
        "customer_id": draw(valid_ids),
        "items": line_items,
        "amount_cents": amount,
    }
    if way == "field":
        name = draw(st.sampled_from(["order_id", "customer_id"]))
        request[name] = draw(hostile_ids)
        if name == "order_id":  # the key names the hostile id, so only the id itself is wrong
            request["idempotency_key"] = f"{request['order_id']}:{step}"
    elif way == "amount":
        request["amount_cents"] = draw(
            st.one_of(
                st.integers(1, 10**6).map(lambda delta: amount + delta),
                st.integers(1, 10**6).map(lambda delta: amount - delta),
                st.sampled_from([0, -1, *JSON_NUMBERS_OVERFLOW, float(amount), str(amount), True, None]),
            )
        )
    elif way == "key":
        other = draw(st.sampled_from([s for s in STEP_OF.values() if s != step]))
        request["idempotency_key"] = draw(
            st.sampled_from([f"{order_id}:{other}", f"{order_id}x:{step}", f"{order_id}.{step}", order_id, ""])
        )
    elif way == "extra":
        request[draw(st.text(max_size=12).filter(lambda k: k not in REQUEST_KEYS))] = draw(json_values)
    elif way == "missing":
        del request[draw(st.sampled_from(sorted(REQUEST_KEYS)))]
    elif way == "big":
        request["customer_id"] = "x" * 70_000  # over nats.max_request_bytes
    return service, json.dumps(request).encode(), request


@st.composite
def request_runs(draw: st.DrawFn) -> list[tuple[ServiceName, bytes, dict[str, Any] | None]]:
    prefix = uuid.uuid4().hex[:10]  # orders of one example never meet another example's records
    orders = [f"{prefix}-{name}" for name in ("a", "b")]
    return draw(st.lists(service_requests(orders), min_size=1, max_size=6))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=request_runs())
def test_every_service_request_is_answered_and_only_valid_ones_change_state(
    harness: Harness, run: list[tuple[ServiceName, bytes, dict[str, Any] | None]]
) -> None:
    async def check() -> None:
        stock, ledger = await state(harness.nc)
        model = Model(stock=stock, ledger=ledger.model_copy())
        for service, payload, request in run:
            step = STEP_OF[service]
            reply = await ask(harness.nc, service.subject, payload)
            valid = len(payload) <= 64 * 1024 and is_request(request, step)
            if valid:
                assert request is not None
                expected_ok = model.apply(step, request)
                assert reply["code"] != "bad_request", (service, request, reply)
                if expected_ok is not None:
                    assert reply["ok"] is expected_ok, (service, request, reply)
            else:
                assert (reply["ok"], reply["code"]) == (False, "bad_request"), (service, payload[:300], reply)
            assert await state(harness.nc) == (model.stock, model.ledger), (service, payload[:300], reply)

    harness.run(check())


def test_amount_that_does_not_match_the_items_is_refused(harness: Harness) -> None:
    """A charge is the items' total: a request whose amount says otherwise must not be charged as given."""
    order = f"mismatch-{uuid.uuid4().hex[:8]}"
    request = {
        "idempotency_key": f"{order}:charge",
        "order_id": order,
        "customer_id": "c1",
        "items": [{"sku": "book", "quantity": 2, "unit_price_cents": 1250}],
        "amount_cents": 1,
    }

    async def check() -> None:
        _, before = await state(harness.nc)
        reply = await ask(harness.nc, ServiceName.PAYMENT.subject, json.dumps(request).encode())
        _, after = await state(harness.nc)
        assert (reply["ok"], reply["code"]) == (False, "bad_request"), reply
        assert "amount_cents" in reply["message"]
        assert after == before
        overflow = {**request, "amount_cents": 2**70}
        reply = await ask(harness.nc, ServiceName.PAYMENT.subject, json.dumps(overflow).encode())
        assert reply["code"] == "bad_request"
        assert (await state(harness.nc))[1] == before

    harness.run(check())


# --- the faults control ----------------------------------------------------------------------

FAULT_DEFAULTS: dict[str, Any] = {
    "error_rate": 0.0,
    "decline_rate": 0.0,
    "latency_ms": 0,
    "jitter_ms": 0,
    "down": False,
    "lost_reply_rate": 0.0,
}


def is_rate(value: object) -> bool:
    return type(value) in (int, float) and 0 <= value <= 1  # type: ignore[operator]


def fault_settings_if_valid(service: object, settings: object) -> dict[str, Any] | None:
    """The settings a `set` must store, or None when the control must refuse it."""
    if service not in [name.value for name in ServiceName] or type(settings) is not dict:
        return None
    if not set(settings) <= set(FAULT_DEFAULTS):
        return None
    checks = {
        "error_rate": is_rate,
        "decline_rate": is_rate,
        "latency_ms": lambda v: type(v) is int and 0 <= v <= 60_000,
        "jitter_ms": lambda v: type(v) is int and 0 <= v <= 60_000,
        "down": lambda v: type(v) is bool,
        "lost_reply_rate": is_rate,
    }
    if not all(checks[key](value) for key, value in settings.items()):
        return None
    if ServiceName(service).is_compensation and settings.get("decline_rate"):
        return None  # a compensation never declines
    return {**FAULT_DEFAULTS, **settings}


fault_values = st.one_of(
    st.floats(0, 1),
    st.integers(0, 60_000),
    st.booleans(),
    st.floats(),  # nan and infinities too
    st.integers(),
    st.sampled_from([-0.5, 1.5, 60_001, 2**70, 5.0, "0.5", "true", "yes", None, [1], {}]),
)


@st.composite
def fault_requests(draw: st.DrawFn) -> tuple[bytes, Any]:
    way = draw(st.sampled_from(["get", "clear", "set", "set", "set", "action", "bytes", "json"]))
    if way == "bytes":
        return draw(st.binary(max_size=100)), None
    if way == "json":
        value = draw(json_values.filter(lambda v: not isinstance(v, dict)))
        return json.dumps(value).encode(), value
    request: dict[str, Any] = {"action": way}
    if way == "action":
        request["action"] = draw(st.one_of(st.sampled_from(["GET", "Set", "reset", "", "set "]), json_values))
    if way == "set" or draw(st.booleans()):
        request["service"] = draw(
            st.one_of(
                st.sampled_from([name.value for name in ServiceName]), st.sampled_from(["Payment", "ship"]), json_values
            )
        )
        request["settings"] = draw(
            st.one_of(
                st.dictionaries(st.sampled_from(sorted(FAULT_DEFAULTS)), fault_values, max_size=6),
                st.dictionaries(st.text(max_size=10), fault_values, max_size=2),
                json_values,
            )
        )
    return json.dumps(request).encode(), request


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=st.lists(fault_requests(), min_size=1, max_size=5))
def test_faults_control_answers_everything_and_changes_only_on_valid_requests(
    harness: Harness, run: list[tuple[bytes, Any]]
) -> None:
    async def check() -> None:
        current = (await ask(harness.nc, FAULTS_SUBJECT, b'{"action": "get"}'))["data"]["faults"]
        try:
            for payload, request in run:
                reply = await ask(harness.nc, FAULTS_SUBJECT, payload)
                action = request.get("action") if isinstance(request, dict) else None
                if action == "get":
                    valid = True
                elif action == "clear":
                    valid = True
                    current = {name: dict(FAULT_DEFAULTS) for name in current}
                elif action == "set":
                    stored = fault_settings_if_valid(request.get("service"), request.get("settings"))
                    valid = stored is not None
                    if stored is not None:
                        current = {**current, request["service"]: stored}
                else:
                    valid = False
                if valid:
                    assert reply["ok"] and reply["code"] == "ok", (request, reply)
                    assert reply["data"]["faults"] == current, (request, reply)
                else:
                    assert (reply["ok"], reply["code"]) == (False, "bad_request"), (payload[:200], reply)
                now = (await ask(harness.nc, FAULTS_SUBJECT, b'{"action": "get"}'))["data"]["faults"]
                assert now == current, (payload[:200], reply)
        finally:
            await ask(harness.nc, FAULTS_SUBJECT, b'{"action": "clear"}')  # the service tests need none

    harness.run(check())
