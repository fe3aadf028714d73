"""OrderWorkflow on the time-skipping test server, with the service activities replaced."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine.activities import TRANSIENT
from engine.models import (
    CancelResult,
    EventKind,
    OrderInput,
    OrderStatus,
    Reason,
    SagaSettings,
    SagaState,
    ServiceReply,
    Step,
    StepEvent,
    StepStatus,
    workflow_id_for,
)
from engine.workflows import WORKFLOW_TYPE, OrderWorkflow

SETTINGS = SagaSettings(
    hold_seconds=30,
    step_timeout_seconds=5,
    initial_interval_seconds=1,
    backoff_coefficient=2,
    maximum_interval_seconds=4,
    maximum_attempts=3,
    compensation_maximum_interval_seconds=4,
)


class FakeServices:
    """Stands in for the NATS services: records calls, fails on demand."""

    def __init__(self) -> None:
        self.calls: list[Step] = []
        self.events: list[StepEvent] = []
        self.event_batches = 0
        self.behaviour: dict[Step, Callable[[int], None]] = {}
        self.gates: dict[Step, asyncio.Event] = {}
        self.entered: dict[Step, asyncio.Event] = {step: asyncio.Event() for step in Step}

    def decline(self, step: Step, code: str) -> None:
        def fail(_attempt: int) -> None:
            raise ApplicationError("declined", type=code, non_retryable=True)

        self.behaviour[step] = fail

    def fail_times(self, step: Step, times: int) -> None:
        def fail(attempt: int) -> None:
            if attempt <= times:
                raise ApplicationError(f"flaky {attempt}", type=TRANSIENT)

        self.behaviour[step] = fail

    def attempts(self, step: Step) -> int:
        return self.calls.count(step)

    def activities(self) -> list:
        def service(step: Step, name: str):
            @activity.defn(name=name)
            async def call(order: OrderInput) -> ServiceReply:
                self.calls.append(step)
                self.entered[step].set()
                if step in self.gates:
                    await self.gates[step].wait()
                if step in self.behaviour:
                    self.behaviour[step](self.attempts(step))
                return ServiceReply(ok=True, code="ok")

            return call

        @activity.defn(name="saga_settings")
        async def saga_settings() -> SagaSettings:
            return SETTINGS

        @activity.defn(name="publish_events")
        async def publish_events(events: list[StepEvent]) -> None:
            self.events.extend(events)
            self.event_batches += 1

        return [
            service(Step.RESERVE, "reserve_inventory"),
            service(Step.CHARGE, "charge_payment"),
            service(Step.SHIP, "ship_order"),
            service(Step.RESTOCK, "restock_inventory"),
            service(Step.REFUND, "refund_payment"),
            saga_settings,
            publish_events,
        ]


def an_order() -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": uuid.uuid4().hex[:12],
            "customer_id": "cust-1",
            "items": [{"sku": "golang-book", "quantity": 2, "unit_price_cents": 3999}],
        }
    )


async def start(env: WorkflowEnvironment, task_queue: str, order: OrderInput | dict) -> WorkflowHandle:
    order_id = order.order_id if isinstance(order, OrderInput) else order.get("order_id", "x")
    return await env.client.start_workflow(
        WORKFLOW_TYPE, order, id=workflow_id_for(order_id), task_queue=task_queue, result_type=SagaState
    )


async def failed_state(handle: WorkflowHandle) -> tuple[BaseException, SagaState]:
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    state = await handle.query("state", result_type=SagaState)
    return failure.value.cause, state


def compensations(state: SagaState) -> list[Step]:
    return [step.name for step in state.steps if step.compensation]


async def test_happy_path_completes(time_skipping_env: WorkflowEnvironment, task_queue: str) -> None:
    services = FakeServices()
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=services.activities()
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        state: SagaState = await handle.result()
    assert state.status is OrderStatus.COMPLETED
    assert services.calls == [Step.RESERVE, Step.CHARGE, Step.SHIP]
    assert [s.status for s in state.steps] == [StepStatus.SUCCEEDED] * 4
    hold = state.step(Step.HOLD)
    assert (hold.finished_at - hold.started_at).total_seconds() >= SETTINGS.hold_seconds
    kinds = [(e.step, e.kind.value) for e in services.events]
    assert kinds == [
        ("order", "started"),
        ("reserve", "started"),
        ("reserve", "succeeded"),
        ("charge", "started"),
        ("charge", "succeeded"),
        ("hold", "started"),
        ("hold", "succeeded"),
        ("ship", "started"),
        ("ship", "succeeded"),
        ("order", "succeeded"),
    ]
    assert services.event_batches == 5  # one local activity per wait, not one per event


@pytest.mark.parametrize(
    ("declined_step", "code", "expected_compensations"),
    [
        (Step.RESERVE, "out_of_stock", []),
        (Step.CHARGE, "card_declined", [Step.RESTOCK]),
        (Step.SHIP, "undeliverable", [Step.REFUND, Step.RESTOCK]),
    ],
)
async def test_decline_compensates_exactly_the_steps_done_in_reverse(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    declined_step: Step,
    code: str,
    expected_compensations: list[Step],
) -> None:
    services = FakeServices()
    services.decline(declined_step, code)
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=services.activities()
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        cause, state = await failed_state(handle)
    assert isinstance(cause, ApplicationError) and cause.type == "OrderCompensated"
    assert state.status is OrderStatus.COMPENSATED
    assert state.reason == Reason(code)
    assert services.attempts(declined_step) == 1, "a business decline is not retried"
    assert compensations(state) == expected_compensations
    called_compensations = [c for c in services.calls if c in (Step.REFUND, Step.RESTOCK)]
    assert called_compensations == expected_compensations
    assert state.step(declined_step).status is StepStatus.FAILED


async def test_transient_errors_retry_then_exhaust(time_skipping_env: WorkflowEnvironment, task_queue: str) -> None:
    services = FakeServices()
    services.fail_times(Step.CHARGE, 99)
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=services.activities()
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        _, state = await failed_state(handle)
    assert state.reason is Reason.RETRIES_EXHAUSTED
    assert services.attempts(Step.CHARGE) == SETTINGS.maximum_attempts
    assert state.step(Step.CHARGE).attempts == SETTINGS.maximum_attempts
    assert state.step(Step.CHARGE).last_error == f"flaky {SETTINGS.maximum_attempts}"
    # The charge may have landed before its reply was lost: refund runs too.
    assert compensations(state) == [Step.REFUND, Step.RESTOCK]


async def test_transient_error_then_success_completes(time_skipping_env: WorkflowEnvironment, task_queue: str) -> None:
    services = FakeServices()
    services.fail_times(Step.RESERVE, 2)
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=services.activities()
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        state = await handle.result()
    assert state.status is OrderStatus.COMPLETED
    assert state.step(Step.RESERVE).attempts == 3


async def test_compensation_failing_several_times_then_succeeding(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices()
    services.decline(Step.SHIP, "undeliverable")
    services.fail_times(Step.REFUND, 5)  # more than maximum_attempts: compensations never give up
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=services.activities()
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        _, state = await failed_state(handle)
    refund = state.step(Step.REFUND)
    assert refund.status is StepStatus.SUCCEEDED and refund.attempts == 6
    assert refund.last_error == "flaky 5"
    assert state.status is OrderStatus.COMPENSATED
    retry_events = [e for e in services.events if e.step == "refund" and e.kind is EventKind.FAILED]
    assert len(retry_events) == 5


async def wait_for_hold(handle: WorkflowHandle) -> None:
    for _ in range(200):
        state = await handle.query("state", result_type=SagaState)
        if state and state.current_step == Step.HOLD:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("order never reached the hold")


async def test_cancel_update_during_hold_compensates(time_skipping_env: WorkflowEnvironment, task_queue: str) -> None:
    services = FakeServices()
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=services.activities()
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        await wait_for_hold(handle)
        answer = await handle.execute_update("cancel", result_type=CancelResult)
        assert answer.accepted
        _, state = await failed_state(handle)
    assert state.reason is Reason.CANCELLED and state.status is OrderStatus.COMPENSATED
    assert compensations(state) == [Step.REFUND, Step.RESTOCK]
    assert Step.SHIP not in services.calls
    assert state.step(Step.HOLD).status is StepStatus.CANCELLED


async def test_temporal_cancel_during_hold_compensates(time_skipping_env: WorkflowEnvironment, task_queue: str) -> None:
    services = FakeServices()
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=services.activities()
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        await wait_for_hold(handle)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
        state = await handle.query("state", result_type=SagaState)
    assert state.status is OrderStatus.COMPENSATED and state.reason is Reason.CANCELLED
    assert [c for c in services.calls if c in (Step.REFUND, Step.RESTOCK)] == [Step.REFUND, Step.RESTOCK]
    assert Step.SHIP not in services.calls


async def test_cancel_while_shipping_is_rejected(time_skipping_env: WorkflowEnvironment, task_queue: str) -> None:
    services = FakeServices()
    services.gates[Step.SHIP] = asyncio.Event()
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=services.activities()
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        await wait_for_hold(handle)
        await time_skipping_env.sleep(SETTINGS.hold_seconds + 1)
        await asyncio.wait_for(services.entered[Step.SHIP].wait(), timeout=30)
        answer = await handle.execute_update("cancel", result_type=CancelResult)
        services.gates[Step.SHIP].set()
        state = await handle.result()
        after = await handle.query("state", result_type=SagaState)
    assert not answer.accepted and "shipping" in answer.reason
    assert state.status is OrderStatus.COMPLETED and after.status is OrderStatus.COMPLETED
    assert Step.REFUND not in services.calls


async def test_invalid_order_fails_fast_without_service_calls(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices()
    bad = {
        "order_id": "bad-1",
        "customer_id": "c",
        "items": [{"sku": "golang-book", "quantity": 0, "unit_price_cents": 1}],
    }
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=services.activities()
    ):
        handle = await start(time_skipping_env, task_queue, bad)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidOrder"
    assert "items.0.quantity" in cause.message
    assert services.calls == []
