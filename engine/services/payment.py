"""Payment: charge an order (`service.payment`) and refund exactly that charge (`service.refund`)."""

from __future__ import annotations

from engine.models import FaultSettings, Reason, ServiceReply, ServiceRequest, Step

from . import replies
from .compensation import compensate
from .effects import LEDGER, AccountRef, Answer, Delta, Effects, Refused
from .faults import roll
from .replies import CODE_NOTHING_TO_REFUND
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
        """Refund exactly what the charge took (see `compensation.py`)."""
        nothing = replies.ok(f"order {request.order_id} was not charged", code=CODE_NOTHING_TO_REFUND)

        def pay_back(charge: Record) -> tuple[dict[AccountRef, Delta], ServiceReply]:
            amount = int(charge.reply.data.get("charged_cents", 0))
            deltas = {LEDGER_ACCOUNT: {"refunded_cents": amount, "ops": 1}}
            return deltas, replies.ok(f"refunded {amount} cents", refunded_cents=amount)

        return await compensate(self._effects, request, Step.REFUND, Step.CHARGE, [LEDGER_ACCOUNT], nothing, pay_back)


def _no_ledger(why: Refused) -> ServiceReply:
    return replies.transient("the ledger account is missing", replies.CODE_INTERNAL)
