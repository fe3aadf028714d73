"""Inventory: reserve stock for an order (`service.inventory`), put it back (`service.restock`),
and operators' stock changes (`checkout.control.stock`)."""

from __future__ import annotations

from collections import Counter

from engine.models import FaultSettings, LineItem, Reason, ServiceReply, ServiceRequest, Step

from . import replies
from .compensation import compensate
from .effects import STOCK, AccountRef, Answer, Delta, Effects, Refused
from .faults import roll
from .replies import CODE_NOTHING_TO_RESTOCK
from .store import Record, now, record_key


def units_wanted(items: list[LineItem]) -> dict[str, int]:
    """Units per SKU, duplicate lines added up."""
    wanted = Counter[str]()
    for item in items:
        wanted[item.sku] += item.quantity
    return dict(sorted(wanted.items()))


def stock_of(sku: str) -> AccountRef:
    return AccountRef(STOCK, sku)


class Inventory:
    def __init__(self, effects: Effects) -> None:
        self._effects = effects

    async def reserve(self, request: ServiceRequest, faults: FaultSettings) -> Answer:
        key = record_key(request.order_id, Step.RESERVE)
        wanted = units_wanted(request.items)
        accounts = {stock_of(sku): {"units": -units, "reserved": units, "ops": 1} for sku, units in wanted.items()}
        if roll(faults.decline_rate):
            declined = replies.declined(Reason.OUT_OF_STOCK.value, "out of stock (injected decline)")
            return await self._effects.decide(key, Record(reply=declined, at=now()), accounts)

        def short(why: Refused) -> ServiceReply:
            sku = why.account.key
            if why.missing:
                return replies.declined(Reason.OUT_OF_STOCK.value, f"unknown SKU {sku}")
            return replies.declined(Reason.OUT_OF_STOCK.value, f"not enough {sku} in stock for {wanted[sku]}")

        reserved = replies.ok(f"reserved {sum(wanted.values())} units", reserved=wanted)
        return await self._effects.apply(key, accounts, reserved, short)

    async def restock(self, request: ServiceRequest, faults: FaultSettings) -> Answer:
        """Put back what the order's reservation took (see `compensation.py`)."""
        order = request.order_id
        nothing = replies.ok(f"order {order} holds no reservation", code=CODE_NOTHING_TO_RESTOCK)

        def put_back(reservation: Record) -> tuple[dict[AccountRef, Delta], ServiceReply]:
            reserved: dict[str, int] = reservation.reply.data.get("reserved", {})
            deltas = {stock_of(sku): {"units": units, "restocked": units, "ops": 1} for sku, units in reserved.items()}
            return deltas, replies.ok(f"restocked {sum(reserved.values())} units", restocked=reserved)

        accounts = [stock_of(sku) for sku in units_wanted(request.items)]
        return await compensate(self._effects, request, Step.RESTOCK, Step.RESERVE, accounts, nothing, put_back)


MAX_STOCK_CHANGE = 100_000_000


def adjustment_key(request_id: str) -> str:
    """The record key of an operator's stock change (never a step, so never an order's record)."""
    return f"adjust.{request_id}"


class StockAdjustments:
    """Operators' stock changes: records like every other effect, so the audit can account for them."""

    def __init__(self, effects: Effects) -> None:
        self._effects = effects

    async def adjust(self, request_id: str, sku: str, *, add: int | None = None, set_to: int | None = None) -> Answer:
        key = adjustment_key(request_id)
        if answer := await self._effects.replay(key):
            return answer
        if set_to is not None:
            account = await self._effects.account(stock_of(sku))
            if account is None:
                return await self._effects.decide(key, Record(reply=_unknown(sku), at=now()), [])
            add = set_to - account.value("units")
        assert add is not None
        changed = replies.ok(f"{sku}: {add:+d} units", sku=sku, delta=add)

        def refused(why: Refused) -> ServiceReply:
            return _unknown(sku) if why.missing else replies.bad_request(f"{sku}: cannot go below 0 units")

        return await self._effects.apply(
            key, {stock_of(sku): {"units": add, "adjusted": add, "ops": 1}}, changed, refused
        )


def _unknown(sku: str) -> ServiceReply:
    return replies.bad_request(f"unknown SKU {sku!r}")
