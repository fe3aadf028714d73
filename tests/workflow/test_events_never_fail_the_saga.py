"""A step event that cannot be published (NATS down, a stream without a leader) never fails the order."""

from __future__ import annotations

import asyncio

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import event_sink
from engine.models import OrderStatus, Step, StepEvent
from engine.workflows import OrderWorkflow
from tests.workflow.test_order_workflow import FakeServices, an_order, start


async def test_order_completes_when_every_event_publish_fails(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices()
    attempts: list[StepEvent] = []
    activities = services.activities(task_queue)

    async def failing(event: StepEvent) -> None:
        attempts.append(event)
        raise RuntimeError("nats: no response from stream")

    unregister = event_sink.register(task_queue, failing, asyncio.get_running_loop())
    try:
        async with Worker(
            time_skipping_env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=activities
        ):
            handle = await start(time_skipping_env, task_queue, an_order())
            state = await handle.result()
    finally:
        unregister()
    assert state.status is OrderStatus.COMPLETED
    assert services.calls == [Step.RESERVE, Step.CHARGE, Step.SHIP]
    assert [event.step for event in attempts] == ["order", "hold", "hold"]  # publishing was tried, and failed
