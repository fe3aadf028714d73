"""Payment: charge an order (`service.payment`) and refund exactly that charge (`service.refund`)."""

from __future__ import annotations

from engine.models import FaultSettings, Reason, ServiceReply, ServiceRequest, Step

from . import replies
from .endpoint import roll
from .idempotency import Answer, compensate, forward
from .replies import CODE_NOTHING_TO_REFUND
from .store import Buckets, KeyWriter, Records, add_to_ledger


class Payment:
    def __init__(self, buckets: Buckets) -> None:
        self._ledger = KeyWriter(buckets.ledger)
        self._records = Records(buckets.requests)

    async def charge(self, request: ServiceRequest, faults: FaultSettings) -> Answer:
        decline = None
        if roll(faults.decline_rate):
            decline = replies.declined(Reason.CARD_DECLINED.value, "card declined (injected decline)")
        return await forward(self._records, request, Step.CHARGE, Step.REFUND, decline, lambda: self._charge(request))

    async def refund(self, request: ServiceRequest, faults: FaultSettings) -> Answer:
        nothing = replies.ok(f"order {request.order_id} was not charged", code=CODE_NOTHING_TO_REFUND)
        return await compensate(self._records, request, Step.REFUND, Step.CHARGE, nothing, self._refund)

    async def _charge(self, request: ServiceRequest) -> ServiceReply:
        await add_to_ledger(self._ledger, charged_cents=request.amount_cents)
        return replies.ok(f"charged {request.amount_cents} cents", charged_cents=request.amount_cents)

    async def _refund(self, charge: ServiceReply) -> ServiceReply:
        amount = int(charge.data.get("charged_cents", 0))
        await add_to_ledger(self._ledger, refunded_cents=amount)
        return replies.ok(f"refunded {amount} cents", refunded_cents=amount)
