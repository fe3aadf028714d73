"""A step event that cannot be published (NATS down, a stream without a leader) never fails the order."""

from __future__ import annotations

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine.models import OrderStatus, Step, StepEvent
from engine.workflows import OrderWorkflow
from tests.workflow.test_order_workflow import FakeServices, an_order, start


async def test_order_completes_when_every_event_publish_fails(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices()
    attempts: list[int] = []

    @activity.defn(name="publish_events")
    async def publish_events(events: list[StepEvent]) -> None:
        attempts.append(len(events))
        raise RuntimeError("nats: no response from stream")

    activities = [a for a in services.activities() if a.__name__ != "publish_events"] + [publish_events]
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=activities
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        state = await handle.result()
    assert state.status is OrderStatus.COMPLETED
    assert services.calls == [Step.RESERVE, Step.CHARGE, Step.SHIP]
    assert attempts  # publishing was tried, and failed every time
