"""The `naive` baseline: the original Go program's two-step saga ported as written, in one module.

A straight port knows nothing of the Python sandbox: the workflow sits beside its activities
and imports what they import, so the sandbox imports all of it again for every run; and each
activity opens a NATS connection for its one request, as the original did. It is the same
saga as `minimal`'s, registered under the same workflow type on its own task queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import nats
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

REQUEST_TIMEOUT_SECONDS = 2.0
STEP_TIMEOUT = timedelta(seconds=5)


@dataclass
class Order:
    order_id: str


class Activities:
    def __init__(self, nats_url: str, subject_prefix: str) -> None:
        self.nats_url = nats_url
        self.subject_prefix = subject_prefix

    async def ask(self, step: str, order: Order) -> None:
        nc = await nats.connect(self.nats_url)
        try:
            payload = json.dumps({"idempotency_key": f"{order.order_id}:{step}", "order_id": order.order_id})
            reply = await nc.request(f"{self.subject_prefix}.{step}", payload.encode(), timeout=REQUEST_TIMEOUT_SECONDS)
        finally:
            await nc.close()
        if not json.loads(reply.data).get("ok"):
            raise ApplicationError(f"{step} declined", non_retryable=True)

    @activity.defn(name="reserve")
    async def reserve(self, order: Order) -> None:
        await self.ask("reserve", order)

    @activity.defn(name="charge")
    async def charge(self, order: Order) -> None:
        await self.ask("charge", order)

    @activity.defn(name="restock")
    async def restock(self, order: Order) -> None:
        await self.ask("restock", order)

    @activity.defn(name="refund")
    async def refund(self, order: Order) -> None:
        await self.ask("refund", order)


@workflow.defn(name="TwoStepSaga")
class NaiveTwoStepSaga:
    @workflow.run
    async def run(self, order: Order) -> str:
        compensations = []
        try:
            compensations.append(Activities.restock)
            await workflow.execute_activity_method(Activities.reserve, order, start_to_close_timeout=STEP_TIMEOUT)
            compensations.append(Activities.refund)
            await workflow.execute_activity_method(Activities.charge, order, start_to_close_timeout=STEP_TIMEOUT)
        except BaseException:
            for compensation in reversed(compensations):
                await workflow.execute_activity_method(compensation, order, start_to_close_timeout=STEP_TIMEOUT)
            raise
        return "ok"
