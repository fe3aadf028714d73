"""Shipping: record a shipment for an order (`service.shipping`); the shipment is its request record."""

from __future__ import annotations

from engine.models import FaultSettings, Reason, ServiceReply, ServiceRequest, Step

from . import replies
from .endpoint import roll
from .idempotency import Answer, forward
from .store import Buckets, Records


class Shipping:
    def __init__(self, buckets: Buckets) -> None:
        self._records = Records(buckets.requests)

    async def ship(self, request: ServiceRequest, faults: FaultSettings) -> Answer:
        decline = None
        if roll(faults.decline_rate):
            decline = replies.declined(Reason.UNDELIVERABLE.value, "undeliverable (injected decline)")
        return await forward(self._records, request, Step.SHIP, None, decline, lambda: self._ship(request))

    async def _ship(self, request: ServiceRequest) -> ServiceReply:
        units = sum(item.quantity for item in request.items)
        return replies.ok(f"shipped {units} units", shipment_id=f"shp-{request.order_id}", units=units)
