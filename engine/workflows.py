"""OrderWorkflow: the checkout saga. reserve -> charge -> hold -> ship, compensated in reverse."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from engine.activities import DECLINED_CODES
    from engine.errors import first_validation_error
    from engine.models import (
        FORWARD_STEPS,
        ORDER_STEP,
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
        StepState,
        StepStatus,
    )

WORKFLOW_TYPE = "OrderWorkflow"
ACTIVITY_OF = {
    Step.RESERVE: "reserve_inventory",
    Step.CHARGE: "charge_payment",
    Step.SHIP: "ship_order",
    Step.RESTOCK: "restock_inventory",
    Step.REFUND: "refund_payment",
}
COMPENSATION_OF = {Step.RESERVE: Step.RESTOCK, Step.CHARGE: Step.REFUND}
SINGLE_ATTEMPT = RetryPolicy(maximum_attempts=1)  # the workflow retries, so attempts are visible in its state
LOCAL_TIMEOUT = timedelta(seconds=5)
BATCHED_EVENTS_PATCH = "batched-step-events"  # orders started before it publish one event per local activity


class SagaAborted(Exception):
    """A forward step cannot complete: compensate with this reason."""

    def __init__(self, reason: Reason, *, declined: bool = False) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.declined = declined  # the service said no and changed nothing


@workflow.defn(name=WORKFLOW_TYPE)
class OrderWorkflow:
    def __init__(self) -> None:
        self._state: SagaState | None = None
        self._settings = SagaSettings()
        self._cancel_requested = False
        self._compensating = False
        self._unpublished: list[StepEvent] = []
        self._batch_events = True

    # The input is taken as plain JSON and validated here, not by the data converter:
    # orders also come from outside tools (`temporal workflow start`), and a converter
    # failure would retry the workflow task forever instead of failing the order fast.
    @workflow.run
    async def run(self, order: Any) -> SagaState:
        try:
            order_input = OrderInput.model_validate(order)
        except ValidationError as error:
            raise ApplicationError(
                f"invalid order: {first_validation_error(error)}", type="InvalidOrder", non_retryable=True
            ) from None
        self._batch_events = workflow.patched(BATCHED_EVENTS_PATCH)
        state = self._state = SagaState(
            order=order_input,
            started_at=workflow.now(),
            steps=[StepState(name=step) for step in FORWARD_STEPS],
        )
        self._settings = await workflow.execute_local_activity(
            "saga_settings", start_to_close_timeout=LOCAL_TIMEOUT, result_type=SagaSettings
        )
        self._update_memo()
        await self._emit(ORDER_STEP, EventKind.STARTED)

        compensations: list[Step] = []
        try:
            for step in FORWARD_STEPS:
                if step == Step.HOLD:
                    await self._hold()
                    continue
                # Registered before the step runs: a step that timed out may still have landed.
                if step in COMPENSATION_OF:
                    compensations.append(COMPENSATION_OF[step])
                try:
                    await self._run_step(step)
                except SagaAborted as aborted:
                    if aborted.declined and step in COMPENSATION_OF:
                        compensations.remove(COMPENSATION_OF[step])
                    raise
        except BaseException as error:
            if not (isinstance(error, SagaAborted) or is_cancelled_exception(error)):
                raise
            reason = error.reason if isinstance(error, SagaAborted) else Reason.CANCELLED
            self._interrupt_running_steps(cancelled=reason == Reason.CANCELLED)
            await self._compensate(list(reversed(compensations)), reason)
            if isinstance(error, SagaAborted):
                raise ApplicationError(
                    f"order compensated: {reason.value}", state, type="OrderCompensated", non_retryable=True
                ) from None
            raise  # Temporal cancellation: let the server record the run as cancelled

        state.status = OrderStatus.COMPLETED
        state.current_step = None
        state.finished_at = workflow.now()
        self._update_memo()
        await self._emit(ORDER_STEP, EventKind.SUCCEEDED)
        await self._publish_events()
        return state

    @workflow.query
    def state(self) -> SagaState | None:
        return self._state

    @workflow.update
    async def cancel(self) -> CancelResult:
        state = self._state
        if state is None:
            return CancelResult(accepted=False, reason="order has not started")
        if state.status is not OrderStatus.RUNNING:
            return CancelResult(accepted=False, reason=f"order is already {state.status.value.lower()}")
        if state.current_step == Step.SHIP:
            return CancelResult(accepted=False, reason="already shipping: too late to cancel")
        if self._cancel_requested:
            return CancelResult(accepted=True, reason="cancel already requested")
        self._cancel_requested = True
        state.cancel_requested = True
        return CancelResult(accepted=True, reason="cancelling: compensation will run")

    # --- forward steps ---------------------------------------------------------------------

    async def _run_step(self, step: Step) -> None:
        """Run one step with retries; raise SagaAborted when it fails for good."""
        state = self._state
        assert state is not None
        step_state = self._step_state(step)
        backoff = self._settings.initial_interval_seconds
        for attempt in range(1, self._settings.maximum_attempts + 1):
            if self._cancel_requested:
                raise SagaAborted(Reason.CANCELLED)
            state.current_step = step
            self._begin_attempt(step_state, attempt)
            await self._emit(step.value, EventKind.STARTED, attempt=attempt)
            try:
                await self._execute(step, self._settings.step_timeout_seconds)
            except ActivityError as error:
                if is_cancelled_exception(error):
                    raise
                code, message = _failure_of(error)
                step_state.last_error = message
                if code in DECLINED_CODES or attempt == self._settings.maximum_attempts:
                    self._finish(step_state, StepStatus.FAILED)
                    await self._emit(step.value, EventKind.FAILED, attempt=attempt, error=message)
                    if code in DECLINED_CODES:
                        raise SagaAborted(Reason(code), declined=True) from None
                    raise SagaAborted(Reason.RETRIES_EXHAUSTED) from None
                step_state.status = StepStatus.RETRYING
                await self._emit(step.value, EventKind.FAILED, attempt=attempt, error=message)
                await self._wait_for_cancel(backoff)
                backoff = min(backoff * self._settings.backoff_coefficient, self._settings.maximum_interval_seconds)
                continue
            self._finish(step_state, StepStatus.SUCCEEDED)
            await self._emit(step.value, EventKind.SUCCEEDED, attempt=attempt)
            return

    async def _hold(self) -> None:
        """The cancellable window: a durable timer that a cancel cuts short."""
        state = self._state
        assert state is not None
        if self._cancel_requested:
            raise SagaAborted(Reason.CANCELLED)
        state.current_step = Step.HOLD
        step_state = self._step_state(Step.HOLD)
        self._begin_attempt(step_state, 1)
        state.hold_until = workflow.now() + timedelta(seconds=self._settings.hold_seconds)
        await self._emit(Step.HOLD.value, EventKind.STARTED, attempt=1)
        if await self._wait_for_cancel(self._settings.hold_seconds):
            step_state.last_error = "cancelled by operator"
            raise SagaAborted(Reason.CANCELLED)
        self._finish(step_state, StepStatus.SUCCEEDED)
        await self._emit(Step.HOLD.value, EventKind.SUCCEEDED, attempt=1)

    async def _wait_for_cancel(self, seconds: float) -> bool:
        """Sleep durably for `seconds`; True as soon as a cancel update arrives."""
        await self._publish_events()
        try:
            await workflow.wait_condition(lambda: self._cancel_requested, timeout=seconds)
        except TimeoutError:
            return False
        return True

    # --- compensation ----------------------------------------------------------------------

    async def _compensate(self, compensations: list[Step], reason: Reason) -> None:
        """Run each compensation until it succeeds, in reverse order of the steps."""
        state = self._state
        assert state is not None
        self._compensating = True
        state.status = OrderStatus.COMPENSATING
        state.reason = reason
        self._update_memo()
        await self._emit(ORDER_STEP, EventKind.COMPENSATING)
        for step in compensations:
            step_state = StepState(name=step, compensation=True)
            state.steps.append(step_state)
            state.current_step = step
            backoff = self._settings.initial_interval_seconds
            attempt = 0
            while True:
                attempt += 1
                self._begin_attempt(step_state, attempt)
                await self._emit(step.value, EventKind.COMPENSATING, attempt=attempt)
                try:
                    await self._execute(step, self._settings.step_timeout_seconds)
                    break
                except (ActivityError, asyncio.CancelledError) as error:
                    # A cancel arriving now must not stop a compensation: retry it.
                    message = (
                        "cancel requested while compensating"
                        if is_cancelled_exception(error)
                        else _failure_of(error)[1]
                    )
                    step_state.status = StepStatus.RETRYING
                    step_state.last_error = message
                    await self._emit(step.value, EventKind.FAILED, attempt=attempt, error=message)
                    await self._sleep_ignoring_cancel(backoff)
                    backoff = min(
                        backoff * self._settings.backoff_coefficient,
                        self._settings.compensation_maximum_interval_seconds,
                    )
            self._finish(step_state, StepStatus.SUCCEEDED)
            await self._emit(step.value, EventKind.COMPENSATED, attempt=attempt)
        state.status = OrderStatus.COMPENSATED
        state.current_step = None
        state.finished_at = workflow.now()
        self._update_memo()
        await self._emit(ORDER_STEP, EventKind.COMPENSATED)
        await self._publish_events()

    async def _sleep_ignoring_cancel(self, seconds: float) -> None:
        await self._publish_events()
        try:
            await workflow.sleep(seconds)
        except asyncio.CancelledError:
            pass

    def _interrupt_running_steps(self, *, cancelled: bool) -> None:
        assert self._state is not None
        for step_state in self._state.steps:
            if step_state.status in (StepStatus.RUNNING, StepStatus.RETRYING):
                self._finish(step_state, StepStatus.CANCELLED if cancelled else StepStatus.FAILED)
            elif step_state.status is StepStatus.PENDING:
                step_state.status = StepStatus.SKIPPED

    # --- helpers -----------------------------------------------------------------------------

    async def _execute(self, step: Step, timeout_seconds: float) -> ServiceReply:
        assert self._state is not None
        await self._publish_events()
        return await workflow.execute_activity(
            ACTIVITY_OF[step],
            self._state.order,
            start_to_close_timeout=timedelta(seconds=timeout_seconds),
            retry_policy=SINGLE_ATTEMPT,
            result_type=ServiceReply,
        )

    def _step_state(self, step: Step) -> StepState:
        assert self._state is not None
        found = self._state.step(step)
        assert found is not None
        return found

    def _begin_attempt(self, step_state: StepState, attempt: int) -> None:
        step_state.status = StepStatus.RUNNING
        step_state.attempts = attempt
        if step_state.started_at is None:
            step_state.started_at = workflow.now()

    def _finish(self, step_state: StepState, status: StepStatus) -> None:
        step_state.status = status
        step_state.finished_at = workflow.now()

    def _update_memo(self) -> None:
        state = self._state
        assert state is not None
        workflow.upsert_memo(
            {
                "customer_id": state.order.customer_id,
                "total_cents": state.order.total_cents,
                "status": state.status.value,
                "reason": state.reason.value if state.reason else None,
            }
        )

    async def _emit(self, step: str, kind: EventKind, *, attempt: int = 0, error: str | None = None) -> None:
        """Record a step event; it is published at the next wait, with the others recorded since.

        Orders started before events were batched published each event at once, in its own
        local activity: their histories replay only if that still happens."""
        state = self._state
        assert state is not None
        self._unpublished.append(
            StepEvent(
                order_id=state.order.order_id,
                step=step,
                kind=kind,
                attempt=attempt,
                time=workflow.now(),
                error=error,
                status=state.status,
                reason=state.reason,
                customer_id=state.order.customer_id,
                total_cents=state.order.total_cents,
            )
        )
        if not self._batch_events:
            await self._publish_events()

    async def _publish_events(self) -> None:
        """One local activity for every event since the last wait (each costs a workflow activation).

        Events are for watching: failing to publish never fails the saga."""
        if not self._unpublished:
            return
        events, self._unpublished = self._unpublished, []
        name, argument = ("publish_events", events) if self._batch_events else ("publish_event", events[0])
        try:
            await workflow.execute_local_activity(
                name, argument, start_to_close_timeout=LOCAL_TIMEOUT, retry_policy=RetryPolicy(maximum_attempts=2)
            )
        # A failed local activity raises its own ApplicationError, not an ActivityError.
        except (ActivityError, ApplicationError, asyncio.CancelledError) as failure:
            if is_cancelled_exception(failure) and not self._compensating:
                raise
            workflow.logger.warning("%d step events not published: %s", len(events), failure)


def _failure_of(error: BaseException) -> tuple[str, str]:
    """(failure type, one-line message) of an activity error."""
    cause = error.cause if isinstance(error, ActivityError) else None
    if isinstance(cause, ApplicationError):
        return cause.type or "ApplicationError", cause.message
    if cause is not None:
        return type(cause).__name__, str(cause) or type(cause).__name__
    return type(error).__name__, str(error)
