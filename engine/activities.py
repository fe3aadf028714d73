"""Activities: each saga step is one NATS request to a service, one model in and one out.

The workflow retries steps itself (each activity call is a single attempt) so that the
attempt count and last error are part of the saga state an operator sees live.
"""

from __future__ import annotations

import json

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from temporalio import activity
from temporalio.exceptions import ApplicationError

from engine.events import EventPublisher
from engine.models import (
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

# Failure type of everything the workflow retries (ApplicationError.type); a decline's type is its code.
TRANSIENT = "TransientError"


class CheckoutActivities:
    """Given its connections, so tests and fault injectors are just other objects."""

    def __init__(self, nc: NATS, settings: SagaSettings, request_timeout: float) -> None:
        self._nc = nc
        self._settings = settings
        self._timeout = request_timeout
        self._events = EventPublisher(nc.jetstream())

    @activity.defn(name="reserve_inventory")
    async def reserve_inventory(self, order: OrderInput) -> ServiceReply:
        return await self._call(Step.RESERVE, order)

    @activity.defn(name="charge_payment")
    async def charge_payment(self, order: OrderInput) -> ServiceReply:
        return await self._call(Step.CHARGE, order)

    @activity.defn(name="ship_order")
    async def ship_order(self, order: OrderInput) -> ServiceReply:
        return await self._call(Step.SHIP, order)

    @activity.defn(name="restock_inventory")
    async def restock_inventory(self, order: OrderInput) -> ServiceReply:
        return await self._call(Step.RESTOCK, order)

    @activity.defn(name="refund_payment")
    async def refund_payment(self, order: OrderInput) -> ServiceReply:
        return await self._call(Step.REFUND, order)

    @activity.defn(name="saga_settings")
    async def saga_settings(self) -> SagaSettings:
        return self._settings

    @activity.defn(name="publish_event")
    async def publish_event(self, event: StepEvent) -> None:
        """Orders started before step events were batched still publish one at a time."""
        await self._events.publish(event)

    @activity.defn(name="publish_events")
    async def publish_events(self, events: list[StepEvent]) -> None:
        for event in events:  # one after the other: the stream keeps them in this order
            await self._events.publish(event)

    async def _call(self, step: Step, order: OrderInput) -> ServiceReply:
        service = ENDPOINT_OF_STEP[step].name
        request = ServiceRequest(
            idempotency_key=idempotency_key(order.order_id, step),
            order_id=order.order_id,
            customer_id=order.customer_id,
            items=order.items,
            amount_cents=order.total_cents,
        )
        try:
            message = await self._nc.request(service.subject, request.model_dump_json().encode(), timeout=self._timeout)
        except NoRespondersError:
            raise ApplicationError(f"{service.value} service: no responders", type=TRANSIENT) from None
        except NatsTimeout:
            raise ApplicationError(
                f"{service.value} service: no reply within {self._timeout:g}s", type=TRANSIENT
            ) from None
        reply = _parse_reply(service, message.data)
        if reply.ok:
            return reply
        if reply.code in DECLINE_CODES:
            raise ApplicationError(
                f"{service.value}: {reply.message or reply.code}", type=reply.code, non_retryable=True
            )
        raise ApplicationError(f"{service.value}: {reply.code}: {reply.message}", type=TRANSIENT)


def _parse_reply(service: ServiceName, data: bytes) -> ServiceReply:
    try:
        return ServiceReply.model_validate(json.loads(data))
    except ValueError:
        raise ApplicationError(f"{service.value} service: malformed reply", type=TRANSIENT) from None
