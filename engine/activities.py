"""Activities: each saga step is one NATS request to a service, one model in and one out.

The steps run as local activities (`reserve`, `charge`, `ship`, `refund`, `restock`): a
service call takes milliseconds, and a local activity costs the server no task of its own
and the worker no round trip through it, while its result is still recorded in the
history (a marker per attempt). A service's answer, a decline or a transient error alike,
is returned as the reply, not raised: it is an expected outcome, for the workflow to judge.

Step events cost no activity of their own: a step publishes the events the workflow
recorded since the last publish as its call goes out, then its own events at the moment
they happen, stamped with that moment: its start as the request leaves, its outcome as the
reply arrives (the workflow wrote both beforehand, `StepEvents`, so what an event says is
decided in one place). The reply carries those two times back into the history, so the
saga state shows the same times as the events, and says whether the outcome went out.

A paused step (`engine.pauses`) answers `paused` at once, from this process's copy of the
pauses: its request never goes out, and only the events recorded before it are published.

The workflow retries steps itself (every call is a single attempt) so that the attempt
count and last error are part of the saga state an operator sees live.

`reserve_inventory` and the other regular activities, and `publish_event`, serve orders
started by earlier versions, whose histories schedule them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError

from engine import metrics
from engine.events import EventPublisher
from engine.metrics import StepMetrics
from engine.models import (
    CODE_PAUSED,
    CODE_SHIPPED,
    CODE_TRANSIENT,
    DECLINE_CODES,
    ENDPOINT_OF_STEP,
    OrderInput,
    SagaSettings,
    ServiceName,
    ServiceReply,
    ServiceRequest,
    Step,
    StepEvent,
    idempotency_key,
)
from engine.pauses import PauseCache
from engine.services.replies import CODE_NOTHING_TO_REFUND, CODE_NOTHING_TO_RESTOCK

log = logging.getLogger(__name__)

# What a compensation's ok reply says it did; any other ok reply undid the step. Every compensation
# of an order runs (see engine.workflows), so "nothing to undo" is common and told apart.
COMPENSATION_OUTCOMES = {
    CODE_SHIPPED: metrics.FOUND_SHIPPED,
    CODE_NOTHING_TO_REFUND: metrics.NOTHING_TO_UNDO,
    CODE_NOTHING_TO_RESTOCK: metrics.NOTHING_TO_UNDO,
}

# Failure type of everything the workflow retries (ApplicationError.type); a decline's type is its code.
TRANSIENT = "TransientError"


class StepEvents(BaseModel):
    """The events of one attempt of a step, written by the workflow, published by the step itself
    (each with the moment it happens as its time): `started` as the request goes out, then
    `succeeded` (the step's, and the order's when it is the last step) or `failed` (with the
    reply's message as its error) when the reply arrives."""

    started: StepEvent
    succeeded: list[StepEvent]
    failed: StepEvent


class StepCall(BaseModel):
    """The input of a step's local activity."""

    order: OrderInput
    events: list[StepEvent] = Field(default_factory=list)  # recorded since the last publish
    own: StepEvents | None = None  # this attempt's events (orders started by earlier versions: none)
    pausable: bool = False  # whether a pause of the step holds this call (not for earlier orders, nor once released)


class StepReply(ServiceReply):
    """A service's reply as a step returns it: when the request went out and the reply came (the
    step's times in the saga state), and whether the step published the outcome's events."""

    started_at: datetime | None = None
    replied_at: datetime | None = None
    published: bool = False
    paused: bool = False  # the step is paused: no request went out (`message`: the pause's reason)


def events_as_call_goes_out(call: StepCall, now: datetime) -> list[StepEvent]:
    """What a step publishes as its request leaves: the events recorded before it, then its start."""
    if call.own is None:
        return call.events
    return [*call.events, call.own.started.model_copy(update={"time": now})]


def events_of_reply(call: StepCall, reply: ServiceReply, now: datetime) -> list[StepEvent] | None:
    """What a step publishes when the reply comes; None when the workflow publishes the outcome
    (a compensation that finds the order shipped completes the order instead)."""
    if call.own is None or (reply.ok and reply.code == CODE_SHIPPED):
        return None
    if not reply.ok:
        return [call.own.failed.model_copy(update={"time": now, "error": reply.message})]
    return [event.model_copy(update={"time": now}) for event in call.own.succeeded]


class CheckoutActivities:
    """Given its connections, so tests and fault injectors are just other objects."""

    def __init__(
        self,
        nc: NATS,
        settings: SagaSettings,
        request_timeout: float,
        pauses: PauseCache | None = None,
        metrics: StepMetrics | None = None,
    ) -> None:
        self._nc = nc
        self._pauses = pauses
        self._settings = settings
        self._timeout = request_timeout
        self._events = EventPublisher(nc)
        self._metrics = metrics or StepMetrics(MetricMeter.noop)

    # --- the steps (local activities) ------------------------------------------------------

    @activity.defn(name="reserve")
    async def reserve(self, call: StepCall) -> StepReply:
        return await self._step(Step.RESERVE, call)

    @activity.defn(name="charge")
    async def charge(self, call: StepCall) -> StepReply:
        return await self._step(Step.CHARGE, call)

    @activity.defn(name="ship")
    async def ship(self, call: StepCall) -> StepReply:
        return await self._step(Step.SHIP, call)

    @activity.defn(name="restock")
    async def restock(self, call: StepCall) -> StepReply:
        return await self._step(Step.RESTOCK, call)

    @activity.defn(name="refund")
    async def refund(self, call: StepCall) -> StepReply:
        return await self._step(Step.REFUND, call)

    @activity.defn(name="saga_settings")
    async def saga_settings(self) -> SagaSettings:
        return self._settings

    @activity.defn(name="publish_events")
    async def publish_events(self, events: list[StepEvent]) -> None:
        await self._events.publish_all(events)

    async def _step(self, step: Step, call: StepCall) -> StepReply:
        if call.pausable and self._pauses is not None and (pause := self._pauses.get(step)) is not None:
            await self._publish_quietly(call.events)
            return StepReply(ok=False, code=CODE_PAUSED, message=pause.reason, paused=True)
        started_at = _now()
        published = asyncio.ensure_future(self._publish_quietly(events_as_call_goes_out(call, started_at)))
        try:
            reply = await self._request(step, call.order)
        finally:
            await published
        replied_at = _now()
        outcome = events_of_reply(call, reply, replied_at)
        if outcome is not None:
            await self._publish_quietly(outcome)
        return StepReply(
            **reply.model_dump(), started_at=started_at, replied_at=replied_at, published=outcome is not None
        )

    async def _publish_quietly(self, events: list[StepEvent]) -> None:
        """Events are for watching: failing to publish them never fails a step."""
        if not events:
            return
        try:
            await self._events.publish_all(events)
        except Exception as error:
            log.warning("%d step events not published: %s", len(events), error)

    async def _request(self, step: Step, order: OrderInput) -> ServiceReply:
        service = ENDPOINT_OF_STEP[step].name
        request = ServiceRequest(
            idempotency_key=idempotency_key(order.order_id, step),
            order_id=order.order_id,
            customer_id=order.customer_id,
            items=order.items,
            amount_cents=order.total_cents,
        )
        sent = time.perf_counter()
        try:
            message = await self._nc.request(service.subject, request.model_dump_json().encode(), timeout=self._timeout)
        except NoRespondersError:
            self._metrics.step(step.value, metrics.ERROR, time.perf_counter() - sent)
            return _transient(f"{service.value} service: no responders")
        except NatsTimeout:
            self._metrics.step(step.value, metrics.LOST, time.perf_counter() - sent)
            self._metrics.lost_reply(service)
            return _transient(f"{service.value} service: no reply within {self._timeout:g}s")
        took = time.perf_counter() - sent
        try:
            reply = ServiceReply.model_validate(json.loads(message.data))
        except ValueError:
            self._metrics.step(step.value, metrics.ERROR, took)
            return _transient(f"{service.value} service: malformed reply")
        self._count(step, service, reply, took)
        if not reply.ok:
            prefix = service.value if reply.code in DECLINE_CODES else f"{service.value}: {reply.code}"
            reply.message = f"{prefix}: {reply.message or reply.code}"
        return reply

    def _count(self, step: Step, service: ServiceName, reply: ServiceReply, seconds: float) -> None:
        if reply.ok:
            self._metrics.step(step.value, metrics.OK, seconds)
            if service.is_compensation:
                self._metrics.compensation(service, COMPENSATION_OUTCOMES.get(reply.code, metrics.UNDONE))
        else:
            self._metrics.step(step.value, metrics.DECLINED if reply.code in DECLINE_CODES else metrics.ERROR, seconds)

    # --- regular activities, for orders started by earlier versions --------------------------

    @activity.defn(name="reserve_inventory")
    async def reserve_inventory(self, order: OrderInput) -> ServiceReply:
        return await self._raising(Step.RESERVE, order)

    @activity.defn(name="charge_payment")
    async def charge_payment(self, order: OrderInput) -> ServiceReply:
        return await self._raising(Step.CHARGE, order)

    @activity.defn(name="ship_order")
    async def ship_order(self, order: OrderInput) -> ServiceReply:
        return await self._raising(Step.SHIP, order)

    @activity.defn(name="restock_inventory")
    async def restock_inventory(self, order: OrderInput) -> ServiceReply:
        return await self._raising(Step.RESTOCK, order)

    @activity.defn(name="refund_payment")
    async def refund_payment(self, order: OrderInput) -> ServiceReply:
        return await self._raising(Step.REFUND, order)

    @activity.defn(name="publish_event")
    async def publish_event(self, event: StepEvent) -> None:
        await self._events.publish(event)

    async def _raising(self, step: Step, order: OrderInput) -> ServiceReply:
        """The earlier contract: a reply that is not ok is raised, its code as the failure type."""
        reply = await self._request(step, order)
        if reply.ok:
            return reply
        if reply.code in DECLINE_CODES:
            raise ApplicationError(reply.message, type=reply.code, non_retryable=True)
        raise ApplicationError(reply.message, type=TRANSIENT)

    def all(self) -> list[Callable[..., Any]]:
        """Every activity the worker registers."""
        return [
            self.reserve,
            self.charge,
            self.ship,
            self.restock,
            self.refund,
            self.saga_settings,
            self.publish_events,
            self.reserve_inventory,
            self.charge_payment,
            self.ship_order,
            self.restock_inventory,
            self.refund_payment,
            self.publish_event,
        ]


def _now() -> datetime:
    return datetime.now(UTC)


def _transient(message: str) -> ServiceReply:
    return ServiceReply(ok=False, code=CODE_TRANSIENT, message=message)
