"""Hostile workflow input, property-tested on the time-skipping server: every invalid order fails
at once with InvalidOrder and a one-line message, and no activity runs, not even a local one."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine.models import SagaSettings, ServiceReply, StepEvent
from engine.workflows import ACTIVITY_OF, WORKFLOW_TYPE, OrderWorkflow
from tests.support.hostile import is_order, orders


def counting_activities(calls: Counter[str]) -> list:
    """Stand-ins for every activity the workflow may call; each counts its calls."""

    def service(name: str):
        @activity.defn(name=name)
        async def call(order: object) -> ServiceReply:
            calls[name] += 1
            return ServiceReply(ok=True, code="ok")

        return call

    @activity.defn(name="saga_settings")
    async def saga_settings() -> SagaSettings:
        calls["saga_settings"] += 1
        return SagaSettings(hold_seconds=0)

    @activity.defn(name="publish_events")
    async def publish_events(events: list[StepEvent]) -> None:
        calls["publish_events"] += 1

    @activity.defn(name="publish_event")
    async def publish_event(event: StepEvent) -> None:
        calls["publish_event"] += 1

    return [*(service(name) for name in ACTIVITY_OF.values()), saga_settings, publish_events, publish_event]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=orders().filter(lambda raw: not is_order(raw)))
async def test_invalid_orders_fail_fast_and_call_nothing(time_skipping_env: WorkflowEnvironment, raw: object) -> None:
    calls: Counter[str] = Counter()
    task_queue = f"hostile-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=counting_activities(calls),
    ):
        handle = await time_skipping_env.client.start_workflow(
            WORKFLOW_TYPE, raw, id=f"order-hostile-{uuid.uuid4().hex}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidOrder", cause
    assert cause.non_retryable
    assert cause.message.startswith("invalid order: ") and "\n" not in cause.message and len(cause.message) < 250
    assert calls == Counter(), f"activities ran for an invalid order: {dict(calls)}"
