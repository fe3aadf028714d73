"""What every service endpoint does around its business logic: one task per request,
injected faults, request validation, counters for `$SRV.STATS` and Prometheus, the reply.

An injected lost reply (`lost_reply_rate`) drops the reply to a request the business logic
decided: its effect is applied and its answer stored, exactly as for any request, and
nothing is sent. The caller times out and cannot tell it from "nothing happened"; its retry
with the same idempotency key gets the stored answer (replayed). Injected errors and
malformed requests decided nothing, so their replies are never lost."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from nats.micro.request import Request
from pydantic import ValidationError
from temporalio.common import MetricMeter

from engine.errors import first_validation_error
from engine.metrics import ServiceMetrics
from engine.models import FaultSettings, ServiceName, ServiceRequest

from . import replies
from .effects import Answer
from .faults import FaultsCache, roll

log = logging.getLogger(__name__)

REPLAY_HEADER = "Checkout-Replayed"  # set on the stored answer to a repeated request
DOWN = "down"  # the error reason of a request dropped unanswered by an injected `down`

Handler = Callable[[ServiceRequest, FaultSettings], Awaitable[Answer]]


class Tasks:
    """The requests being handled; nats-py runs a subscription's callbacks one at a time,
    so each request gets its own task and a slow one does not hold up the others."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self.stopping.is_set():
            work.close()
            return
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def pause(self, seconds: float) -> bool:
        """Sleep, or return True at once when stopping."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout: float) -> None:
        """Let requests in progress finish (injected delays end at once, unanswered), then cancel stragglers."""
        self.stopping.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)


@dataclass
class Counters:
    requests: int = 0
    errors: int = 0  # not-ok answers other than declines, and requests dropped by `down`
    declines: int = 0
    lost_replies: int = 0  # decided answers never sent: an injected lost reply (counted besides their outcome)

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "declines": self.declines,
            "lost_replies": self.lost_replies,
        }


class Endpoint:
    def __init__(
        self,
        name: ServiceName,
        handler: Handler,
        faults: FaultsCache,
        tasks: Tasks,
        max_request_bytes: int,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.name = name
        self.step = name.endpoint.step
        self.counters = Counters()
        self._metrics = metrics or ServiceMetrics(MetricMeter.noop)
        self._handler = handler
        self._faults = faults
        self._tasks = tasks
        self._max_bytes = max_request_bytes

    async def on_request(self, request: Request) -> None:
        self._tasks.spawn(self._serve(request))

    async def _serve(self, request: Request) -> None:
        self.counters.requests += 1
        self._metrics.request(self.name)
        faults = self._faults.get(self.name)
        if faults.down:
            self.counters.errors += 1
            self._metrics.error(self.name, DOWN)
            return
        delay_ms = faults.latency_ms + (random.uniform(0, faults.jitter_ms) if faults.jitter_ms else 0)
        if delay_ms and await self._tasks.pause(delay_ms / 1000):
            return
        decided = False
        try:
            answer, decided = await self._answer(request.data, faults)
        except Exception as error:
            log.exception("%s: request failed", self.name.value)
            answer = Answer(replies.transient(f"internal error: {type(error).__name__}", replies.CODE_INTERNAL))
        reply = answer.reply
        if replies.is_decline(reply):
            self.counters.declines += 1
            self._metrics.decline(self.name, reply.code)
        elif not reply.ok:
            self.counters.errors += 1
            self._metrics.error(self.name, reply.code)
        if decided and roll(faults.lost_reply_rate):  # the answer is stored: only the reply is lost
            self.counters.lost_replies += 1
            self._metrics.lost_reply(self.name)
            return
        headers = {REPLAY_HEADER: "true"} if answer.replayed else None
        try:
            await request.respond(reply.model_dump_json().encode(), headers=headers)
        except Exception:
            log.warning("%s: could not send the reply", self.name.value, exc_info=True)

    async def _answer(self, data: bytes, faults: FaultSettings) -> tuple[Answer, bool]:
        """The answer, and whether the business logic decided it (and stored it, to replay)."""
        if roll(faults.error_rate):
            return Answer(replies.transient()), False
        parsed = self._parse(data)
        if isinstance(parsed, str):
            return Answer(replies.bad_request(parsed)), False
        return await self._handler(parsed, faults), True

    def _parse(self, data: bytes) -> ServiceRequest | str:
        """The request, or a one-line reason why it is malformed."""
        if len(data) > self._max_bytes:
            return f"request is larger than {self._max_bytes} bytes"
        try:
            raw = json.loads(data)
        except (ValueError, RecursionError):
            return "request is not valid JSON"
        if not isinstance(raw, dict):
            return "request must be a JSON object"
        try:
            request = ServiceRequest.model_validate(raw)
        except ValidationError as error:
            return first_validation_error(error)
        if request.idempotency_key != f"{request.order_id}:{self.step.value}":
            return f"idempotency_key must be '<order_id>:{self.step.value}' on {self.name.subject}"
        return request
