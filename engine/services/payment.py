"""Payment: charge an order (`service.payment`) and refund exactly that charge (`service.refund`)."""

from __future__ import annotations

from engine.models import FaultSettings, Reason, ServiceReply, ServiceRequest, Step

from . import replies
from .effects import LEDGER, AccountRef, Answer, Effects, Refused
from .faults import roll
from .replies import CODE_NOTHING_TO_REFUND
from .shipping import void_shipment
from .store import LEDGER_KEY, Record, now, record_key

LEDGER_ACCOUNT = AccountRef(LEDGER, LEDGER_KEY)


class Payment:
    def __init__(self, effects: Effects) -> None:
        self._effects = effects

    async def charge(self, request: ServiceRequest, faults: FaultSettings) -> Answer:
        key = record_key(request.order_id, Step.CHARGE)
        amount = request.amount_cents
        accounts = {LEDGER_ACCOUNT: {"charged_cents": amount, "ops": 1}}
        if roll(faults.decline_rate):
            declined = replies.declined(Reason.CARD_DECLINED.value, "card declined (injected decline)")
            return await self._effects.decide(key, Record(reply=declined, at=now()), accounts)
        charged = replies.ok(f"charged {amount} cents", charged_cents=amount)
        return await self._effects.apply(key, accounts, charged, _no_ledger)

    async def refund(self, request: ServiceRequest, faults: FaultSettings) -> Answer:
        """Refund what the charge took, unless the order has shipped. The shipment and the charge
        are voided first if they were never decided, so they never happen later."""
        key = record_key(request.order_id, Step.REFUND)
        if answer := await self._effects.replay(key):
            return answer
        order = request.order_id
        if (shipped := await void_shipment(self._effects, order)) is not None:
            return await self._effects.decide(key, Record(reply=shipped, at=now()), [])
        charge = await self._effects.void(
            record_key(order, Step.CHARGE), [LEDGER_ACCOUNT], f"order {order} was refunded first: charge voided"
        )
        if not charge.ok:
            nothing = replies.ok(f"order {order} was not charged", code=CODE_NOTHING_TO_REFUND)
            return await self._effects.decide(key, Record(reply=nothing, at=now()), [])
        amount = int(charge.reply.data.get("charged_cents", 0))
        refunded = replies.ok(f"refunded {amount} cents", refunded_cents=amount)
        return await self._effects.apply(
            key, {LEDGER_ACCOUNT: {"refunded_cents": amount, "ops": 1}}, refunded, _no_ledger
        )


def _no_ledger(why: Refused) -> ServiceReply:
    return replies.transient("the ledger account is missing", replies.CODE_INTERNAL)
