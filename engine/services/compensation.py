"""How every compensation (refund, restock) undoes its forward step, once, whatever ran before it.

1. An order being compensated must never ship later: its shipment is voided unless decided.
   If it has shipped already (a ship call the saga never saw answered, from a worker that
   died), the answer is `shipped` and nothing is undone: the saga completes instead.
2. The forward step is voided unless decided, so a slow or dead forward request never lands
   later; voiding settles whatever it had applied.
3. A forward step that did nothing needs nothing undone; otherwise its effect is applied in
   reverse, exactly once, like any effect (see `effects.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from engine.models import CODE_SHIPPED, ServiceReply, ServiceRequest, Step

from . import replies
from .effects import AccountRef, Answer, Delta, Effects, Refused
from .store import Record, now, record_key

Undo = Callable[[Record], tuple[dict[AccountRef, Delta], ServiceReply]]


async def compensate(
    effects: Effects,
    request: ServiceRequest,
    step: Step,
    forward: Step,
    accounts: list[AccountRef],
    nothing: ServiceReply,
    undo: Undo,
) -> Answer:
    """Compensate `forward` with `step`: `nothing` when it did nothing, else `undo(its record)`."""
    key, order = record_key(request.order_id, step), request.order_id
    if answer := await effects.replay(key):
        return answer
    if (shipped := await void_shipment(effects, order)) is not None:
        return await effects.decide(key, Record(reply=shipped, at=now()), [])
    done = await effects.void(record_key(order, forward), accounts, f"order {order} was compensated first")
    if not done.ok:
        return await effects.decide(key, Record(reply=nothing, at=now()), [])
    deltas, undone = undo(done)
    return await effects.apply(key, deltas, undone, _account_missing)


async def void_shipment(effects: Effects, order_id: str) -> ServiceReply | None:
    """None once the order can never ship; the `shipped` reply when it has shipped already."""
    shipment = await effects.void(record_key(order_id, Step.SHIP), [], f"order {order_id} was compensated first")
    if not shipment.ok:
        return None
    return replies.ok(f"order {order_id} has shipped: nothing is undone", code=CODE_SHIPPED)


def _account_missing(why: Refused) -> ServiceReply:
    # Only an account deleted by hand gets here; the compensation retries until it is back.
    return replies.transient(f"cannot undo on {why.account}: no such account", replies.CODE_INTERNAL)
