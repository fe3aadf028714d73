"""Inventory: reserve stock for an order (`service.inventory`) and put it back (`service.restock`)."""

from __future__ import annotations

from collections import Counter

from engine.models import FaultSettings, Reason, ServiceReply, ServiceRequest, Step

from . import replies
from .endpoint import roll
from .idempotency import Answer, compensate, forward
from .replies import CODE_NOTHING_TO_RESTOCK
from .store import Buckets, KeyWriter, Records, UnknownSku, adjust_stock, stock_exists


class Inventory:
    def __init__(self, buckets: Buckets) -> None:
        self._stock = buckets.stock
        self._writer = KeyWriter(buckets.stock)
        self._records = Records(buckets.requests)

    async def reserve(self, request: ServiceRequest, faults: FaultSettings) -> Answer:
        decline = None
        if roll(faults.decline_rate):
            decline = replies.declined(Reason.OUT_OF_STOCK.value, "out of stock (injected decline)")
        return await forward(self._records, request, Step.RESERVE, Step.RESTOCK, decline, lambda: self._take(request))

    async def restock(self, request: ServiceRequest, faults: FaultSettings) -> Answer:
        nothing = replies.ok(f"order {request.order_id} holds no reservation", code=CODE_NOTHING_TO_RESTOCK)
        return await compensate(self._records, request, Step.RESTOCK, Step.RESERVE, nothing, self._put_back)

    async def _take(self, request: ServiceRequest) -> ServiceReply:
        wanted = Counter[str]()
        for item in request.items:
            wanted[item.sku] += item.quantity
        for sku in sorted(wanted):
            if not await stock_exists(self._stock, sku):
                return replies.declined(Reason.OUT_OF_STOCK.value, f"unknown SKU {sku}")
        taken: dict[str, int] = {}
        short = None
        try:
            for sku in sorted(wanted):
                try:
                    left = await adjust_stock(self._writer, sku, -wanted[sku])
                except UnknownSku:  # removed since the check above
                    left = None
                if left is None:
                    short = sku
                    break
                taken[sku] = wanted[sku]
        finally:
            if len(taken) < len(wanted):  # declined, or failed half-way: undo what was taken
                await self._give_back(taken)
        if short is not None:
            return replies.declined(Reason.OUT_OF_STOCK.value, f"not enough {short} in stock for {wanted[short]}")
        return replies.ok(f"reserved {sum(taken.values())} units", reserved=taken)

    async def _put_back(self, reservation: ServiceReply) -> ServiceReply:
        reserved: dict[str, int] = reservation.data.get("reserved", {})
        await self._give_back(reserved)
        return replies.ok(f"restocked {sum(reserved.values())} units", restocked=reserved)

    async def _give_back(self, units: dict[str, int]) -> None:
        for sku, quantity in units.items():
            await adjust_stock(self._writer, sku, quantity)
