"""OrderWorkflow on the time-skipping test server, with the service activities replaced."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from engine import event_sink
from engine.activities import TRANSIENT, StepCall, StepReply, events_as_call_goes_out, events_of_reply
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
from engine.pause_workflow import PauseActivities, PauseRecord, ReleaseBatch
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

    def __init__(self, settings: SagaSettings = SETTINGS) -> None:
        self.settings = settings
        self.calls: list[Step] = []
        self.events: list[StepEvent] = []
        self.event_publishers: list[str] = []  # the activity that published each batch of events
        self.behaviour: dict[Step, Callable[[int], None]] = {}
        self.gates: dict[Step, asyncio.Event] = {}
        self.stalls: dict[Step, float] = {}
        self.late: dict[Step, float] = {}  # every attempt's effect lands, its answer comes after this
        self.shipped = False  # set by a successful ship, or by a test: a ship the saga never saw answered
        self.entered: dict[Step, asyncio.Event] = {step: asyncio.Event() for step in Step}
        self.paused: dict[Step, str] = {}  # step -> reason: what the pause workflows recorded (the KV)
        self.client: Client | None = None  # the pause workflows' releases go through it

    def decline(self, step: Step, code: str) -> None:
        self.behaviour[step] = lambda _attempt: ServiceReply(ok=False, code=code, message="declined")

    def fail_times(self, step: Step, times: int) -> None:
        def fail(attempt: int) -> ServiceReply | None:
            return (
                ServiceReply(ok=False, code="transient_error", message=f"flaky {attempt}") if attempt <= times else None
            )

        self.behaviour[step] = fail

    def stall_once(self, step: Step, seconds: float) -> None:
        """The first attempt answers too late (the step timeout ends it)."""
        self.stalls[step] = seconds

    def answer_late(self, step: Step, seconds: float) -> None:
        """Every attempt lands at the service, but answers after `seconds` (past the step timeout):
        a frozen link that delivers requests and loses replies."""
        self.late[step] = seconds

    def crash_times(self, step: Step, times: int) -> None:
        """The activity itself raises (a bug, a lost connection): a transient failure too."""

        def crash(attempt: int) -> None:
            if attempt <= times:
                raise ApplicationError(f"crashed {attempt}", type=TRANSIENT)

        self.behaviour[step] = crash

    def attempts(self, step: Step) -> int:
        return self.calls.count(step)

    def activities(self, task_queue: str) -> list:
        """The steps and the other activities; the workflow's own events on `task_queue` come here too."""

        async def collect(event: StepEvent) -> None:
            self._published("workflow", [event])

        event_sink.register(task_queue, collect, asyncio.get_running_loop())

        def service(step: Step):
            @activity.defn(name=step.value)
            async def call(request: StepCall) -> StepReply:
                if request.pausable and step in self.paused:  # as CheckoutActivities answers
                    self._published(step.value, request.events)
                    return StepReply(ok=False, code="paused", message=self.paused[step], paused=True)
                started_at = datetime.now(UTC)
                self._published(step.value, events_as_call_goes_out(request, started_at))
                reply = await answer(request)
                replied_at = datetime.now(UTC)
                outcome = events_of_reply(request, reply, replied_at)
                self._published(step.value, outcome or [])
                return StepReply(
                    **reply.model_dump(), started_at=started_at, replied_at=replied_at, published=outcome is not None
                )

            async def answer(request: StepCall) -> ServiceReply:
                self.calls.append(step)
                self.entered[step].set()
                if step in self.gates:
                    await self.gates[step].wait()
                if step in self.stalls:
                    await asyncio.sleep(self.stalls.pop(step))
                if step in self.late:
                    self.shipped |= step == Step.SHIP
                    await asyncio.sleep(self.late[step])
                if step in self.behaviour and (failed := self.behaviour[step](self.attempts(step))):
                    return failed
                if step in (Step.REFUND, Step.RESTOCK) and self.shipped:  # as the real services answer
                    return ServiceReply(ok=True, code="shipped", message="order has shipped: nothing is undone")
                self.shipped |= step == Step.SHIP
                return ServiceReply(ok=True, code="ok")

            return call

        @activity.defn(name="saga_settings")
        async def saga_settings() -> SagaSettings:
            return self.settings

        @activity.defn(name="publish_events")
        async def publish_events(events: list[StepEvent]) -> None:
            self._published("publish_events", events)

        @activity.defn(name="record_pause")
        async def record_pause(record: PauseRecord) -> None:
            if record.pause is None:
                self.paused.pop(record.step, None)
            else:
                self.paused[record.step] = record.pause.reason

        @activity.defn(name="release_orders")
        async def release_orders(batch: ReleaseBatch) -> None:
            assert self.client is not None, "a test of paused steps sets FakeServices.client"
            await PauseActivities(None, self.client).release_orders(batch)  # type: ignore[arg-type]

        return [
            *(service(step) for step in (Step.RESERVE, Step.CHARGE, Step.SHIP, Step.RESTOCK, Step.REFUND)),
            saga_settings,
            publish_events,
            record_pause,
            release_orders,
        ]

    def _published(self, by: str, events: list[StepEvent]) -> None:
        if events:
            self.events.extend(events)
            self.event_publishers.append(by)


def worker_for(env: WorkflowEnvironment, task_queue: str, services: FakeServices) -> Worker:
    return Worker(
        env.client, task_queue=task_queue, workflows=[OrderWorkflow], activities=services.activities(task_queue)
    )


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
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=services.activities(task_queue),
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
    # The workflow publishes what it records as it records it; each step its own start as the call goes
    # out and its outcome when the reply comes (the last one the order's end too). No activity of its own.
    assert services.event_publishers == [
        *("workflow", "reserve", "reserve", "charge", "charge"),
        *("workflow", "workflow", "ship", "ship"),
    ]
    # Its events carry the moments the step saw, and the saga state the same times.
    for step in (Step.RESERVE, Step.CHARGE, Step.SHIP):
        started, succeeded = (
            next(e for e in services.events if e.step == step.value and e.kind == kind)
            for kind in (EventKind.STARTED, EventKind.SUCCEEDED)
        )
        assert (started.time, succeeded.time) == (state.step(step).started_at, state.step(step).finished_at)
        assert started.time < succeeded.time


@pytest.mark.parametrize(
    ("declined_step", "code", "expected_compensations"),
    [
        (Step.RESERVE, "out_of_stock", [Step.REFUND, Step.RESTOCK]),
        (Step.CHARGE, "card_declined", [Step.REFUND, Step.RESTOCK]),
        (Step.SHIP, "undeliverable", [Step.REFUND, Step.RESTOCK]),
    ],
)
async def test_decline_compensates_every_step_in_reverse(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    declined_step: Step,
    code: str,
    expected_compensations: list[Step],
) -> None:
    services = FakeServices()
    services.decline(declined_step, code)
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=services.activities(task_queue),
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
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=services.activities(task_queue),
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
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=services.activities(task_queue),
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
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=services.activities(task_queue),
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
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=services.activities(task_queue),
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
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=services.activities(task_queue),
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


async def test_cancel_sent_while_shipping_is_rejected(time_skipping_env: WorkflowEnvironment, task_queue: str) -> None:
    """Ship runs as a local activity inside a workflow task: an update sent meanwhile is answered
    once the task ends, and either way it is rejected and nothing is undone."""
    services = FakeServices()
    services.gates[Step.SHIP] = asyncio.Event()
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=services.activities(task_queue),
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        await wait_for_hold(handle)
        await time_skipping_env.sleep(SETTINGS.hold_seconds + 1)
        await asyncio.wait_for(services.entered[Step.SHIP].wait(), timeout=30)
        update = asyncio.create_task(handle.execute_update("cancel", result_type=CancelResult))
        await asyncio.sleep(0.3)
        services.gates[Step.SHIP].set()
        answer = await update
        state = await handle.result()
    assert not answer.accepted and answer.reason in (
        "already shipping: too late to cancel",
        "order is already completed",
    )
    assert state.status is OrderStatus.COMPLETED
    assert Step.REFUND not in services.calls


async def test_a_step_that_times_out_is_retried_and_its_history_replays(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices(SETTINGS.model_copy(update={"step_timeout_seconds": 0.5}))
    services.stall_once(Step.CHARGE, seconds=2)
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=services.activities(task_queue),
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        state = await handle.result()
    assert state.status is OrderStatus.COMPLETED
    assert state.step(Step.CHARGE).attempts == 2
    assert state.step(Step.CHARGE).last_error == "no answer within the step timeout (0.5s)"
    # Replayed, a timed-out local activity is delivered differently (its cause alone): same commands.
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(await handle.fetch_history(), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_a_compensation_that_finds_the_order_shipped_completes_it(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A worker that died while its ship call was in flight can leave an order shipped that the
    history does not show: the compensation learns it from the service, and undoes nothing."""
    services = FakeServices()
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=services.activities(task_queue),
    ):
        handle = await start(time_skipping_env, task_queue, an_order())
        await wait_for_hold(handle)
        services.shipped = True
        assert (await handle.execute_update("cancel", result_type=CancelResult)).accepted
        state = await handle.result()
    assert state.status is OrderStatus.COMPLETED and state.reason is None
    assert compensations(state) == [Step.REFUND]
    assert state.step(Step.REFUND).last_error == "order has shipped: nothing is undone"
    assert Step.RESTOCK not in services.calls


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
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=services.activities(task_queue),
    ):
        handle = await start(time_skipping_env, task_queue, bad)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidOrder"
    assert "items.0.quantity" in cause.message
    assert services.calls == []
