"""Apply each request at most once, and make a forward step and its compensation safe in any order.

A forward step (reserve, charge) and its compensation (restock, refund) may race: the
workflow can give up on a slow forward request and compensate while it is still being
handled. Each side first creates its own record, then looks at the other's:
- the forward step finds a compensation record: it is declined `voided` and changes nothing;
- the compensation finds the forward record pending: it removes its own record and answers
  `in_progress`, so the workflow retries it once the forward step has an answer.
Both records are created before either is read, so at least one side sees the other.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engine.models import ServiceReply, ServiceRequest, Step

from . import replies
from .replies import CODE_VOIDED
from .store import Claim, Record, Records, record_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    reply: ServiceReply
    replayed: bool = False  # the stored answer of an earlier identical request


async def forward(
    records: Records,
    request: ServiceRequest,
    step: Step,
    compensation: Step | None,
    decline: ServiceReply | None,
    apply: Callable[[], Awaitable[ServiceReply]],
) -> Answer:
    """Run `apply` once for `request`; `decline` (decided beforehand) replaces it when given."""
    claimed = await records.claim(record_key(request.order_id, step))
    if not isinstance(claimed, Claim):
        return _existing(claimed, request, step)
    try:
        if compensation is not None and await records.read(record_key(request.order_id, compensation)):
            reply = replies.declined(
                CODE_VOIDED, f"order {request.order_id} is already being compensated: {step.value} voided"
            )
        else:
            reply = decline or await apply()
    except Exception:
        # Nothing was changed (a failed apply undoes its own work); on cancellation
        # the outcome is unknown, so the record stays pending, as after a crash.
        await _release(records, claimed)
        raise
    await records.finish(claimed, reply)
    return Answer(reply)


async def compensate(
    records: Records,
    request: ServiceRequest,
    step: Step,
    of: Step,
    nothing: ServiceReply,
    undo: Callable[[ServiceReply], Awaitable[ServiceReply]],
) -> Answer:
    """Undo what the forward step `of` did for this order, once; `nothing` when it did nothing."""
    claimed = await records.claim(record_key(request.order_id, step))
    if not isinstance(claimed, Claim):
        return _existing(claimed, request, step)
    try:
        original = await records.read(record_key(request.order_id, of))
        if original is not None and original.state == "pending":
            await _release(records, claimed)
            return Answer(replies.in_progress(f"{of.value} of order {request.order_id} is still in progress"))
        if original is None or original.reply is None or not original.reply.ok:
            reply = nothing
        else:
            reply = await undo(original.reply)
    except Exception:
        # Nothing was changed (a failed apply undoes its own work); on cancellation
        # the outcome is unknown, so the record stays pending, as after a crash.
        await _release(records, claimed)
        raise
    await records.finish(claimed, reply)
    return Answer(reply)


def _existing(record: Record, request: ServiceRequest, step: Step) -> Answer:
    if record.state == "done" and record.reply is not None:
        return Answer(record.reply, replayed=True)
    return Answer(replies.in_progress(f"{step.value} of order {request.order_id} is already in progress"))


async def _release(records: Records, claim: Claim) -> None:
    try:
        await records.release(claim)
    except Exception:
        log.exception("could not release the pending record %s", claim.key)
