"""A paused step on the time-skipping test server: orders wait before it, durably, until released."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker

from engine import pause_workflow
from engine.models import CancelResult, EventKind, OrderStatus, Reason, SagaState, Step, StepStatus
from engine.pause_workflow import (
    PAUSE_SIGNAL,
    RESUME_SIGNAL,
    PauseControl,
    StepPauseWorkflow,
    pause_workflow_id,
)
from engine.workflows import OrderWorkflow
from tests.workflow.test_order_workflow import FakeServices, an_order, compensations, failed_state, start


def worker(env: WorkflowEnvironment, task_queue: str, services: FakeServices) -> Worker:
    services.client = env.client
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow, StepPauseWorkflow],
        activities=services.activities(task_queue),
    )


async def signal_control(env: WorkflowEnvironment, task_queue: str, signal: str, argument: object) -> WorkflowHandle:
    """As `checkout pause` and `checkout resume` do: signal-with-start the step's control workflow."""
    return await env.client.start_workflow(
        StepPauseWorkflow.run,
        PauseControl(step=Step.CHARGE),
        id=pause_workflow_id(Step.CHARGE),
        task_queue=task_queue,
        start_signal=signal,
        start_signal_args=[argument],
    )


async def until(handle: WorkflowHandle, reached, what: str) -> SagaState:
    for _ in range(400):
        state = await handle.query("state", result_type=SagaState)
        if state is not None and reached(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"order never {what}")


async def until_recorded(services: FakeServices, paused: bool) -> None:
    for _ in range(400):
        if (Step.CHARGE in services.paused) is paused:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the pause workflow never recorded the pause")


def paused_before_charge(state: SagaState) -> bool:
    return state.paused_before is Step.CHARGE


async def test_orders_wait_before_a_paused_step_and_complete_once_resumed(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices(FakeServices().settings.model_copy(update={"hold_seconds": 0}))
    async with worker(time_skipping_env, task_queue, services):
        control = await signal_control(time_skipping_env, task_queue, PAUSE_SIGNAL, "provider down")
        await until_recorded(services, paused=True)
        handles = [await start(time_skipping_env, task_queue, an_order()) for _ in range(3)]
        for handle in handles:
            state = await until(handle, paused_before_charge, "paused before charge")
            assert state.shown_status == "PAUSED before charge"
            assert state.step(Step.CHARGE).status is StepStatus.PAUSED
        assert Step.CHARGE not in services.calls  # no request went out while paused
        assert len((await control.query(StepPauseWorkflow.control)).waiting) == 3

        await signal_control(time_skipping_env, task_queue, RESUME_SIGNAL, 10.0)
        states = [await handle.result() for handle in handles]
        ended = await control.result()
    assert [state.status for state in states] == [OrderStatus.COMPLETED] * 3
    assert all(state.paused_before is None for state in states)
    assert services.calls.count(Step.CHARGE) == 3  # one charge each: the paused answers never reached it
    assert services.paused == {}  # the pause workflow took the pause out of the KV
    assert ended.released == 3 and not ended.waiting and not ended.paused
    charge_events = [e.kind for e in services.events if e.step == "charge" and e.order_id == states[0].order.order_id]
    assert charge_events == [EventKind.PAUSED, EventKind.RELEASED, EventKind.STARTED, EventKind.SUCCEEDED]
    paused = next(e for e in services.events if e.kind is EventKind.PAUSED)
    assert paused.error == "provider down"
    # The new path replays (its history is what the replay tests keep, recorded on real servers).
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(await handles[0].fetch_history(), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_a_paused_order_cancels_and_compensates(time_skipping_env: WorkflowEnvironment, task_queue: str) -> None:
    services = FakeServices()
    async with worker(time_skipping_env, task_queue, services):
        control = await signal_control(time_skipping_env, task_queue, PAUSE_SIGNAL, "")
        await until_recorded(services, paused=True)
        handle = await start(time_skipping_env, task_queue, an_order())
        await until(handle, paused_before_charge, "paused before charge")
        answer = await handle.execute_update("cancel", result_type=CancelResult)
        assert answer.accepted, answer.reason
        # Resumed before waiting on the order: the test server skips time while a result is awaited,
        # and a pause workflow waiting with no timer would reach its run timeout there.
        await signal_control(time_skipping_env, task_queue, RESUME_SIGNAL, 10.0)
        _, state = await failed_state(handle)
        ended = await control.result()  # releasing an order that has ended is skipped
    assert state.status is OrderStatus.COMPENSATED and state.reason is Reason.CANCELLED
    assert state.paused_before is None
    assert state.step(Step.CHARGE).status is StepStatus.CANCELLED
    assert compensations(state) == [Step.REFUND, Step.RESTOCK]  # a refund of a charge never made voids it
    assert Step.CHARGE not in services.calls
    assert ended.released == 1


async def test_an_order_that_finds_no_pause_workflow_goes_on(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A worker whose copy of the pauses is a moment late, after the pause workflow has ended."""
    services = FakeServices(FakeServices().settings.model_copy(update={"hold_seconds": 0}))
    services.paused[Step.CHARGE] = "stale"
    async with worker(time_skipping_env, task_queue, services):
        handle = await start(time_skipping_env, task_queue, an_order())
        state = await handle.result()
    assert state.status is OrderStatus.COMPLETED
    assert services.calls.count(Step.CHARGE) == 1


async def test_the_pause_workflow_continues_as_new_and_keeps_its_state(
    time_skipping_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its history stays bounded: past the limit it continues as new, the waiting orders and the
    count of released ones carried over (unsandboxed, so that the lowered limit applies)."""
    monkeypatch.setattr(pause_workflow, "_MAX_HISTORY", 10)
    services = FakeServices(FakeServices().settings.model_copy(update={"hold_seconds": 0}))
    services.client = time_skipping_env.client
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow, StepPauseWorkflow],
        activities=services.activities(task_queue),
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        control = await signal_control(time_skipping_env, task_queue, PAUSE_SIGNAL, "")
        await until_recorded(services, paused=True)
        handles = [await start(time_skipping_env, task_queue, an_order()) for _ in range(8)]
        for handle in handles:
            await until(handle, paused_before_charge, "paused before charge")
        await signal_control(time_skipping_env, task_queue, RESUME_SIGNAL, 3.0)  # two batches: 6, then 2
        states = [await handle.result() for handle in handles]
        ended = await control.result()  # follows the runs it continued as
    assert [state.status for state in states] == [OrderStatus.COMPLETED] * 8
    assert ended.continued >= 1, ended
    assert ended.released == 8 and not ended.waiting
