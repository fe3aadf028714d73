"""The step-event stream on a real nats-server: replay, live delivery, and surviving a server restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from engine.config import NatsSettings
from engine.events import EventPublisher, ensure_stream, subject_for, subscribe_events
from engine.models import CaughtUp, EventKind, OrderStatus, StepEvent
from engine.nats_client import connect_nats
from tests.support.servers import NatsServer

pytestmark = pytest.mark.integration


def event(order_id: str) -> StepEvent:
    return StepEvent(
        order_id=order_id,
        step="reserve_inventory",
        kind=EventKind.STARTED,
        time=datetime.now(UTC),
        status=OrderStatus.RUNNING,
    )


CAUGHT = "(caught up)"


class Collector:
    """Reads a subscription in the background; `wait_for` waits until given orders have arrived."""

    def __init__(self, events: AsyncIterator[StepEvent | CaughtUp]) -> None:
        self.seen: list[str] = []
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read(events))

    async def _read(self, events: AsyncIterator[StepEvent | CaughtUp]) -> None:
        async for item in events:
            self.seen.append(CAUGHT if isinstance(item, CaughtUp) else item.order_id)
            self._arrived.set()

    async def wait_for(self, order_ids: set[str], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not order_ids <= set(self.seen):
                self._arrived.clear()
                await self._arrived.wait()

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_replay_then_live_events_skipping_garbage(nats_server: NatsServer) -> None:
    nc = await connect_nats(NatsSettings(url=nats_server.url))
    try:
        js = nc.jetstream()
        await ensure_stream(js, max_age_hours=1)
        publisher = EventPublisher(nc)
        await publisher.publish(event("before"))
        await js.publish(subject_for("garbage"), b"not an event")  # acknowledged: stored after "before"
        collector = Collector(subscribe_events(nc, since_hours=1))
        try:
            await collector.wait_for({"before"}, timeout=5)
            await publisher.publish(event("after"))
            await collector.wait_for({"after"}, timeout=5)
            assert collector.seen == ["before", CAUGHT, "after"], "the end of the replay is marked, once"
        finally:
            await collector.stop()
    finally:
        await nc.close()


async def test_a_subscription_survives_a_server_restart_and_loses_nothing(nats_server: NatsServer) -> None:
    nc = await connect_nats(NatsSettings(url=nats_server.url))
    try:
        js = nc.jetstream()
        await ensure_stream(js, max_age_hours=1)
        collector = Collector(subscribe_events(nc))
        try:
            await asyncio.sleep(0.2)  # the consumer exists before the first publish
            await EventPublisher(nc).publish(event("first"))
            await collector.wait_for({"first"}, timeout=5)

            nats_server.stop()
            await asyncio.sleep(0.5)
            nats_server.start()
            published = {f"after-{n}" for n in range(5)}
            for order_id in sorted(published):
                await EventPublisher(nc).publish(event(order_id))

            # The library's own 5 s heartbeat took 10-20 s to notice; with 1 s it is about 1.5 s.
            await collector.wait_for(published, timeout=8)
            assert collector.seen.count("first") == 1
            assert collector.seen[0] == CAUGHT, "nothing to replay: current at once"
        finally:
            await collector.stop()
    finally:
        await nc.close()
