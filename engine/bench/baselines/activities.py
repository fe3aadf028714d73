"""The `minimal` saga's activities, as temporalio's samples write them: methods of a class given
one shared NATS connection, each one request to the responder."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from temporalio import activity
from temporalio.exceptions import ApplicationError

REQUEST_TIMEOUT_SECONDS = 2.0


@dataclass
class BenchOrder:
    order_id: str


class SharedConnectionActivities:
    def __init__(self, nc: NATS, subject_prefix: str) -> None:
        self._nc = nc
        self._subject_prefix = subject_prefix

    @activity.defn(name="reserve")
    async def reserve(self, order: BenchOrder) -> None:
        await self._ask("reserve", order)

    @activity.defn(name="charge")
    async def charge(self, order: BenchOrder) -> None:
        await self._ask("charge", order)

    @activity.defn(name="restock")
    async def restock(self, order: BenchOrder) -> None:
        await self._ask("restock", order)

    @activity.defn(name="refund")
    async def refund(self, order: BenchOrder) -> None:
        await self._ask("refund", order)

    def all(self) -> list[Callable[..., Any]]:
        return [self.reserve, self.charge, self.restock, self.refund]

    async def _ask(self, step: str, order: BenchOrder) -> None:
        payload = json.dumps({"idempotency_key": f"{order.order_id}:{step}", "order_id": order.order_id}).encode()
        reply = await self._nc.request(f"{self._subject_prefix}.{step}", payload, timeout=REQUEST_TIMEOUT_SECONDS)
        if not json.loads(reply.data).get("ok"):
            raise ApplicationError(f"{step} declined", non_retryable=True)
