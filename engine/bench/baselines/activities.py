"""The two-step saga's activities: each one is one NATS request to the responder."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from temporalio import activity
from temporalio.exceptions import ApplicationError

REQUEST_TIMEOUT_SECONDS = 2.0


@dataclass
class BenchOrder:
    order_id: str


class SagaActivities:
    """reserve, charge and their compensations; subclasses say how a request reaches NATS."""

    def __init__(self, subject_prefix: str) -> None:
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
        reply = await self._request(f"{self._subject_prefix}.{step}", payload)
        if not json.loads(reply.data).get("ok"):
            raise ApplicationError(f"{step} declined", non_retryable=True)

    async def _request(self, subject: str, payload: bytes) -> Msg:
        raise NotImplementedError


class SharedConnectionActivities(SagaActivities):
    """`minimal`: one connection for every activity of the worker, as the samples do."""

    def __init__(self, nc: NATS, subject_prefix: str) -> None:
        super().__init__(subject_prefix)
        self._nc = nc

    async def _request(self, subject: str, payload: bytes) -> Msg:
        return await self._nc.request(subject, payload, timeout=REQUEST_TIMEOUT_SECONDS)


class ConnectionPerCallActivities(SagaActivities):
    """`naive`: a new connection per request, closed after it, as the original Go program did."""

    def __init__(self, nats_url: str, subject_prefix: str) -> None:
        super().__init__(subject_prefix)
        self._nats_url = nats_url

    async def _request(self, subject: str, payload: bytes) -> Msg:
        nc = await nats.connect(self._nats_url)
        try:
            return await nc.request(subject, payload, timeout=REQUEST_TIMEOUT_SECONDS)
        finally:
            await nc.close()
