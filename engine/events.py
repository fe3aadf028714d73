"""Step events on the JetStream stream `CHECKOUT_EVENTS` (subjects `checkout.events.<order_id>`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta

from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from engine.models import CAUGHT_UP, CaughtUp, StepEvent

STREAM = "CHECKOUT_EVENTS"
SUBJECT_PREFIX = "checkout.events"
HEARTBEAT_SECONDS = 1.0


def subject_for(order_id: str) -> str:
    return f"{SUBJECT_PREFIX}.{order_id}"


async def ensure_stream(js: JetStreamContext, max_age_hours: float, replicas: int = 1) -> None:
    """Create the events stream if it does not exist (many processes may race here)."""
    config = StreamConfig(
        name=STREAM,
        subjects=[f"{SUBJECT_PREFIX}.>"],
        max_age=max_age_hours * 3600,
        max_msgs_per_subject=200,  # one order never has this many events; bounds a runaway loop
        num_replicas=replicas,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


class EventPublisher:
    """Publishes on the stream's subjects without waiting for JetStream's acknowledgement: events
    are for watching, a saga never waits on them, and one connection keeps them in order. (With
    an acknowledgement each, they were most of a saga's NATS round trips.) While NATS is away
    the client buffers them and sends them when it is back."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc

    async def publish(self, event: StepEvent) -> None:
        await self._nc.publish(subject_for(event.order_id), event.model_dump_json().encode())

    async def publish_all(self, events: list[StepEvent]) -> None:
        for event in events:
            await self.publish(event)


async def read_order_events(js: JetStreamContext, order_id: str) -> list[StepEvent]:
    """The step events of one order still in the stream, oldest first (at most `max_msgs_per_subject`)."""
    events: list[StepEvent] = []
    sequence = 1
    while True:
        try:
            message = await js.get_msg(STREAM, seq=sequence, subject=subject_for(order_id), next=True)
        except NotFoundError:
            return events
        if message.data:
            with suppress(ValueError):  # not ours to show; an external publisher wrote garbage
                events.append(StepEvent.model_validate_json(message.data))
        sequence = (message.seq or sequence) + 1


async def subscribe_events(nc: NATS, since_hours: float | None = None) -> AsyncIterator[StepEvent | CaughtUp]:
    """Every step event from now on; with `since_hours`, that much history first. CAUGHT_UP comes
    once, when the history is through (at once when there is none): a dashboard that starts knows
    then that it is current, without waiting for the stream to go quiet."""
    js = nc.jetstream()
    if since_hours:
        start = datetime.now(UTC) - timedelta(hours=since_hours)
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start)
    else:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    # The ordered consumer recreates itself after missing two heartbeats (a server restart,
    # a lost consumer); the library's default of 5 s made that take 10-20 s.
    subscription = await js.subscribe(
        f"{SUBJECT_PREFIX}.>", ordered_consumer=True, idle_heartbeat=HEARTBEAT_SECONDS, config=config
    )
    try:
        behind = False
        if since_hours:  # history to replay: some still on its way, or here already (the last says 0 pending)
            info = await subscription.consumer_info()
            behind = bool(info.num_pending) or bool(info.delivered and info.delivered.consumer_seq)
        if not behind:
            yield CAUGHT_UP
        async for message in subscription.messages:
            try:
                yield StepEvent.model_validate_json(message.data)
            except ValueError:
                pass  # not ours to show; an external publisher wrote garbage
            if behind and message.metadata.num_pending == 0:
                behind = False
                yield CAUGHT_UP
    finally:
        with suppress(NatsError):  # the connection may already be closed
            await subscription.unsubscribe()
