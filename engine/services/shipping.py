"""Shipping: record a shipment for an order (`service.shipping`); the shipment is its request record."""

from __future__ import annotations

from engine.models import CODE_SHIPPED, FaultSettings, Reason, ServiceReply, ServiceRequest, Step

from . import replies
from .effects import Answer, Effects
from .faults import roll
from .store import Record, now, record_key


async def void_shipment(effects: Effects, order_id: str) -> ServiceReply | None:
    """Before anything of an order is undone: make sure it never ships later. When it has shipped
    already (a ship call the saga did not see answered), the `shipped` reply: undo nothing."""
    shipment = await effects.void(record_key(order_id, Step.SHIP), [], f"order {order_id} was compensated first")
    if not shipment.ok:
        return None
    return replies.ok(f"order {order_id} has shipped: nothing is undone", code=CODE_SHIPPED)


class Shipping:
    def __init__(self, effects: Effects) -> None:
        self._effects = effects

    async def ship(self, request: ServiceRequest, faults: FaultSettings) -> Answer:
        key = record_key(request.order_id, Step.SHIP)
        if roll(faults.decline_rate):
            reply = replies.declined(Reason.UNDELIVERABLE.value, "undeliverable (injected decline)")
        else:
            units = sum(item.quantity for item in request.items)
            reply = replies.ok(f"shipped {units} units", shipment_id=f"shp-{request.order_id}", units=units)
        return await self._effects.decide(key, Record(reply=reply, at=now()), [])
