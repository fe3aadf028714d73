"""Shipping: record a shipment for an order (`service.shipping`); the shipment is its request record."""

from __future__ import annotations

from engine.models import FaultSettings, Reason, ServiceRequest, Step

from . import replies
from .effects import Answer, Effects
from .faults import roll
from .store import Record, now, record_key


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
