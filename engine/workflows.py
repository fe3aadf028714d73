"""OrderWorkflow: the checkout saga. reserve -> charge -> hold -> ship, compensated in reverse.

Orders started by earlier versions replay with the code paths they were recorded with
(`workflow.patched`): steps as regular activities, step events published one per local
activity or in batches at each wait, or every step's own events published with the next
call. New orders run every step as a local activity that publishes the events recorded
before it as it goes out, and its own start and outcome at the moment each happens (see
`engine.activities`): the last step's outcome includes the order's end, so a saga that
runs through needs no activity of its own to publish events.

A step can be paused (`checkout pause STEP`, see `engine.pause_workflow`): the step's local
activity, which checks its worker's copy of the pauses in memory, answers `paused` without
calling the service. The order then registers with the step's control workflow and waits
for its `release` signal or a cancel, with no timer; released, it runs the step. Orders
started before STEP_PAUSE_PATCH never pause.

Orders started under OUTCOME_PATCH record their true outcome at the end: the memo's status
(COMPLETED too) and, when the order was started with the search attributes of
`engine.visibility`, its `CheckoutStatus`. A compensation that finds the order shipped ends
it COMPLETED with no reason and a note (NOTE_FOUND_SHIPPED), in its state, events and memo.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    is_cancelled_exception,
)
from temporalio.exceptions import (
    TimeoutError as StepTimeout,
)

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from engine.activities import TRANSIENT, CheckoutActivities, StepCall, StepEvents, StepReply
    from engine.errors import first_validation_error

    # `from engine import event_sink` would give the sandbox a copy of its own, with no publisher.
    from engine.event_sink import emit as emit_event
    from engine.models import (
        CODE_SHIPPED,
        COMPENSATION_OF,
        DECLINE_CODES,
        FORWARD_STEPS,
        NOTE_FOUND_SHIPPED,
        ORDER_STEP,
        PAUSABLE_STEPS,
        CancelResult,
        EventKind,
        OrderInput,
        OrderStatus,
        Reason,
        SagaSettings,
        SagaState,
        Step,
        StepEvent,
        StepState,
        StepStatus,
    )
    from engine.pause_workflow import REGISTER_SIGNAL, RELEASE_SIGNAL, pause_workflow_id
    from engine.visibility import STATUS_ATTRIBUTE

WORKFLOW_TYPE = "OrderWorkflow"
ACTIVITY_OF = {
    Step.RESERVE: "reserve_inventory",
    Step.CHARGE: "charge_payment",
    Step.SHIP: "ship_order",
    Step.RESTOCK: "restock_inventory",
    Step.REFUND: "refund_payment",
}
SINGLE_ATTEMPT = RetryPolicy(maximum_attempts=1)  # the workflow retries, so attempts are visible in its state
LOCAL_STEP = {
    Step.RESERVE: CheckoutActivities.reserve,
    Step.CHARGE: CheckoutActivities.charge,
    Step.SHIP: CheckoutActivities.ship,
    Step.RESTOCK: CheckoutActivities.restock,
    Step.REFUND: CheckoutActivities.refund,
}
LOCAL_TIMEOUT = timedelta(seconds=5)
LOCAL_STEPS_PATCH = "local-activity-steps"  # orders started before it run steps as regular activities
BATCHED_EVENTS_PATCH = "batched-step-events"  # orders started before it publish one event per local activity
OWN_EVENTS_PATCH = "steps-publish-own-events"  # orders started before it publish a step's outcome with the next call
STEP_PAUSE_PATCH = "pausable-steps"  # orders started before it never pause
# Orders started before it leave the memo's status RUNNING when they complete, keep the reason of a
# compensation that found them shipped in it, and never upsert search attributes.
OUTCOME_PATCH = "true-outcome"


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
        self._local_steps = True
        self._batch_events = True
        self._own_events = True  # each step publishes its own events (see OWN_EVENTS_PATCH)
        self._end_published = False  # the order's last event went out with the last step's outcome
        self._pausable = True  # its steps may answer `paused` (see STEP_PAUSE_PATCH)
        self._true_outcome = True  # the memo tells the outcome at the end (see OUTCOME_PATCH)
        self._status_attribute = False  # started with CheckoutStatus: it upserts the status there too
        self._released: Step | None = None  # the paused step a `release` signal let it go on with

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
        # Newest first: each version implies the ones before it, so a new order records one patch
        # marker (each costs two history events), and an older order replays the path it took.
        self._true_outcome = workflow.patched(OUTCOME_PATCH)
        self._pausable = self._true_outcome or workflow.patched(STEP_PAUSE_PATCH)
        # Only a starter that found the attribute registered sets it: upserting an unknown one
        # would fail every workflow task of the order on a cluster that lacks it.
        self._status_attribute = (
            self._true_outcome and workflow.info().typed_search_attributes.get(STATUS_ATTRIBUTE) is not None
        )
        self._own_events = self._pausable or workflow.patched(OWN_EVENTS_PATCH)
        self._local_steps = self._own_events or workflow.patched(LOCAL_STEPS_PATCH)
        self._batch_events = self._local_steps or workflow.patched(BATCHED_EVENTS_PATCH)
        state = self._state = SagaState(
            order=order_input,
            started_at=workflow.now(),
            steps=[StepState(name=step) for step in FORWARD_STEPS],
        )
        self._settings = await workflow.execute_local_activity_method(
            CheckoutActivities.saga_settings, start_to_close_timeout=LOCAL_TIMEOUT
        )
        if not self._local_steps or workflow.memo_value("status", None) is None:  # started without our memo
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
            if self._local_steps:
                # A local step's effect is durable at the service before the history records it:
                # a worker that dies mid-task can leave steps done that the replay has not reached
                # yet. So every compensation runs; undoing a step that never ran voids it for good.
                compensations = [COMPENSATION_OF[step] for step in FORWARD_STEPS if step in COMPENSATION_OF]
            if not await self._compensate(list(reversed(compensations)), reason):
                if isinstance(error, SagaAborted):
                    raise ApplicationError(
                        f"order compensated: {reason.value}", state, type="OrderCompensated", non_retryable=True
                    ) from None
                raise  # Temporal cancellation: let the server record the run as cancelled
        return await self._complete()

    async def _complete(self) -> SagaState:
        state = self._state
        assert state is not None
        state.status = OrderStatus.COMPLETED
        state.current_step = None
        state.finished_at = workflow.now()
        if not self._local_steps or self._true_outcome:
            self._record_status()
        if not self._end_published:
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
        hold_over = self._local_steps and state.hold_until is not None and workflow.now() >= state.hold_until
        if state.current_step == Step.SHIP or hold_over:
            return CancelResult(accepted=False, reason="already shipping: too late to cancel")
        if self._cancel_requested:
            return CancelResult(accepted=True, reason="cancel already requested")
        self._cancel_requested = True
        state.cancel_requested = True
        return CancelResult(accepted=True, reason="cancelling: compensation will run")

    @workflow.signal(name=RELEASE_SIGNAL)
    def release(self, step: str) -> None:
        """From the step's control workflow: the order may go on with `step`."""
        state = self._state
        if state is not None and state.paused_before is not None and state.paused_before.value == step:
            self._released = state.paused_before

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
            completes = step == Step.SHIP  # the last step: once it succeeds the order completes (no cancel then)
            end = [self._event(ORDER_STEP, EventKind.SUCCEEDED, status=OrderStatus.COMPLETED)] if completes else []
            own = self._own(step, attempt, EventKind.STARTED, EventKind.SUCCEEDED, end=end)
            if own is None:
                await self._emit(step.value, EventKind.STARTED, attempt=attempt)
            reply = await self._attempt(step, own)
            while reply.paused:
                await self._wait_until_released(step, reply.message, attempt)
                reply = await self._attempt(step, own, released=True)
            self._took(step_state, reply)
            if not reply.ok:
                code, message = reply.code, reply.message
                step_state.last_error = message
                if code in DECLINE_CODES or attempt == self._settings.maximum_attempts:
                    self._finish(step_state, StepStatus.FAILED, at=reply.replied_at)
                    await self._emit_unless(reply, step.value, EventKind.FAILED, attempt=attempt, error=message)
                    if code in DECLINE_CODES:
                        raise SagaAborted(Reason(code), declined=True) from None
                    raise SagaAborted(Reason.RETRIES_EXHAUSTED) from None
                step_state.status = StepStatus.RETRYING
                await self._emit_unless(reply, step.value, EventKind.FAILED, attempt=attempt, error=message)
                await self._wait_for_cancel(backoff)
                backoff = min(backoff * self._settings.backoff_coefficient, self._settings.maximum_interval_seconds)
                continue
            self._finish(step_state, StepStatus.SUCCEEDED, at=reply.replied_at)
            await self._emit_unless(reply, step.value, EventKind.SUCCEEDED, attempt=attempt)
            self._end_published = reply.published and bool(end)
            return

    async def _wait_until_released(self, step: Step, reason: str, attempt: int) -> None:
        """The step is paused: register with its control workflow, then wait, without a timer, for
        its `release` or a cancel (raised as SagaAborted)."""
        state = self._state
        assert state is not None
        step_state = self._step_state(step)
        state.paused_before, self._released = step, None
        step_state.status = StepStatus.PAUSED
        await self._emit(step.value, EventKind.PAUSED, attempt=attempt, error=reason or None)
        try:
            await workflow.get_external_workflow_handle(pause_workflow_id(step)).signal(
                REGISTER_SIGNAL, workflow.info().workflow_id
            )
        except FailureError as error:  # no control workflow runs: the pause is already over
            if is_cancelled_exception(error):
                raise
            self._released = step
        await workflow.wait_condition(lambda: self._released is step or self._cancel_requested)
        state.paused_before = None
        step_state.status = StepStatus.RUNNING
        if self._released is not step:
            step_state.last_error = "cancelled by operator while paused"
            raise SagaAborted(Reason.CANCELLED)
        await self._emit(step.value, EventKind.RELEASED, attempt=attempt)

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
        no_hold = self._local_steps and self._settings.hold_seconds <= 0  # no timer, no workflow task for it
        if not no_hold and await self._wait_for_cancel(self._settings.hold_seconds):
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

    async def _compensate(self, compensations: list[Step], reason: Reason) -> bool:
        """Run each compensation until it succeeds, in reverse order of the steps. True when the
        order turns out to have shipped (a local ship that a dead worker ran): nothing is undone."""
        state = self._state
        assert state is not None
        self._compensating = True
        state.status = OrderStatus.COMPENSATING
        state.reason = reason
        self._record_status()
        await self._emit(ORDER_STEP, EventKind.COMPENSATING)
        for index, step in enumerate(compensations):
            step_state = StepState(name=step, compensation=True)
            state.steps.append(step_state)
            state.current_step = step
            backoff = self._settings.initial_interval_seconds
            attempt = 0
            last = index == len(compensations) - 1
            end = [self._event(ORDER_STEP, EventKind.COMPENSATED, status=OrderStatus.COMPENSATED)] if last else []
            while True:
                attempt += 1
                self._begin_attempt(step_state, attempt)
                own = self._own(step, attempt, EventKind.COMPENSATING, EventKind.COMPENSATED, end=end)
                if own is None:
                    await self._emit(step.value, EventKind.COMPENSATING, attempt=attempt)
                try:
                    reply = await self._attempt(step, own)
                except BaseException as error:  # a cancel now must not stop a compensation
                    if not is_cancelled_exception(error):
                        raise
                    reply = StepReply(ok=False, code="cancelled", message="cancel requested while compensating")
                self._took(step_state, reply)
                if reply.ok:
                    break
                message = reply.message
                step_state.status = StepStatus.RETRYING
                step_state.last_error = message
                await self._emit_unless(reply, step.value, EventKind.FAILED, attempt=attempt, error=message)
                await self._sleep_ignoring_cancel(backoff)
                backoff = min(
                    backoff * self._settings.backoff_coefficient,
                    self._settings.compensation_maximum_interval_seconds,
                )
            self._finish(step_state, StepStatus.SUCCEEDED, at=reply.replied_at)
            if reply.code == CODE_SHIPPED:
                step_state.last_error = reply.message
                self._compensating = False
                state.reason, state.note = None, NOTE_FOUND_SHIPPED
                for forward in state.steps:
                    if not forward.compensation and forward.status is not StepStatus.SUCCEEDED:
                        self._finish(forward, StepStatus.SUCCEEDED)
                return True
            await self._emit_unless(reply, step.value, EventKind.COMPENSATED, attempt=attempt)
            self._end_published = reply.published and last
        state.status = OrderStatus.COMPENSATED
        state.current_step = None
        state.finished_at = workflow.now()
        self._record_status()
        if not self._end_published:
            await self._emit(ORDER_STEP, EventKind.COMPENSATED)
        await self._publish_events()
        return False

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

    async def _attempt(self, step: Step, own: StepEvents | None, *, released: bool = False) -> StepReply:
        """One attempt of a step: the service's reply, or a reply that says why there is none
        (`paused`: the step is paused; `released`: the pause let this order go, do not ask again).
        A cancellation is raised: the caller decides what it means."""
        timeout = timedelta(seconds=self._settings.step_timeout_seconds)
        try:
            if self._local_steps:
                events, self._unpublished = self._unpublished, []
                return await workflow.execute_local_activity_method(
                    LOCAL_STEP[step],
                    StepCall(
                        order=self._order,
                        events=events,
                        own=own,
                        pausable=self._pausable and not released and step in PAUSABLE_STEPS,
                    ),
                    start_to_close_timeout=timeout,
                    retry_policy=SINGLE_ATTEMPT,
                )
            await self._publish_events()
            reply: StepReply = await workflow.execute_activity(
                ACTIVITY_OF[step],
                self._order,
                start_to_close_timeout=timeout,
                retry_policy=SINGLE_ATTEMPT,
                result_type=StepReply,
            )
            return reply
        except FailureError as error:
            if is_cancelled_exception(error):
                raise
            if self._local_steps:  # a local step's answers are replies: a failure is the call's own
                return StepReply(ok=False, code=TRANSIENT, message=_local_failure(error, timeout.total_seconds()))
            code, message = _failure_of(error)
            return StepReply(ok=False, code=code, message=message)

    def _own(
        self, step: Step, attempt: int, begins: EventKind, succeeds: EventKind, *, end: list[StepEvent]
    ) -> StepEvents | None:
        """The attempt's events, for the step to publish as they happen (`end`: the order's, when
        this is the last step); None for orders whose steps do not publish their own."""
        if not self._own_events:
            return None
        return StepEvents(
            started=self._event(step.value, begins, attempt=attempt),
            succeeded=[self._event(step.value, succeeds, attempt=attempt), *end],
            failed=self._event(step.value, EventKind.FAILED, attempt=attempt),
        )

    def _took(self, step_state: StepState, reply: StepReply) -> None:
        """The first attempt's start as the step saw it (its events carry the same time)."""
        if reply.started_at is not None and step_state.attempts == 1:
            step_state.started_at = reply.started_at

    @property
    def _order(self) -> OrderInput:
        assert self._state is not None
        return self._state.order

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

    def _finish(self, step_state: StepState, status: StepStatus, *, at: datetime | None = None) -> None:
        step_state.status = status
        step_state.finished_at = at or workflow.now()

    def _record_status(self) -> None:
        """The saga's status where listings and other tools read it: the memo (one history event),
        and the CheckoutStatus search attribute when the order has it (one more)."""
        self._update_memo()
        if self._status_attribute:
            assert self._state is not None
            workflow.upsert_search_attributes([STATUS_ATTRIBUTE.value_set(self._state.status.value)])

    def _update_memo(self) -> None:
        state = self._state
        assert state is not None
        memo: dict[str, Any] = {
            "customer_id": state.order.customer_id,
            "total_cents": state.order.total_cents,
            "status": state.status.value,
            "reason": state.reason.value if state.reason else None,
        }
        if self._true_outcome:
            memo["note"] = state.note  # None removes it
        workflow.upsert_memo(memo)

    def _event(
        self,
        step: str,
        kind: EventKind,
        *,
        attempt: int = 0,
        error: str | None = None,
        status: OrderStatus | None = None,
    ) -> StepEvent:
        """A step event as of now; `status` is the order's once it has happened (default: as it is)."""
        state = self._state
        assert state is not None
        return StepEvent(
            order_id=state.order.order_id,
            step=step,
            kind=kind,
            attempt=attempt,
            time=workflow.now(),
            error=error,
            status=status or state.status,
            reason=state.reason,
            customer_id=state.order.customer_id,
            total_cents=state.order.total_cents,
            note=state.note,
        )

    async def _emit(self, step: str, kind: EventKind, *, attempt: int = 0, error: str | None = None) -> None:
        """Record a step event and publish it at once, from the worker's process (`engine.event_sink`).

        Orders started by earlier versions published events in local activities, and their
        histories replay only if that still happens: each event in one of its own (before
        events were batched), or with the next call or wait, the others recorded since."""
        event = self._event(step, kind, attempt=attempt, error=error)
        if self._own_events:
            if not workflow.unsafe.is_replaying():
                emit_event(workflow.info().task_queue, event)
            return
        self._unpublished.append(event)
        if not self._batch_events:
            await self._publish_events()

    async def _emit_unless(
        self, reply: StepReply, step: str, kind: EventKind, *, attempt: int = 0, error: str | None = None
    ) -> None:
        """Record the outcome's event, unless the step published it itself."""
        if not reply.published:
            await self._emit(step, kind, attempt=attempt, error=error)

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


def _local_failure(error: FailureError, timeout_seconds: float) -> str:
    """One line for a failed local step, the same live and on replay: a local activity that timed
    out raises ActivityError live but its TimeoutError cause alone when replayed."""
    cause = error.cause if isinstance(error, ActivityError) and error.cause is not None else error
    if isinstance(cause, StepTimeout):
        return f"no answer within the step timeout ({timeout_seconds:g}s)"
    return cause.message if isinstance(cause, FailureError) else str(cause)


def _failure_of(error: BaseException) -> tuple[str, str]:
    """(failure type, one-line message) of an activity error."""
    cause = error.cause if isinstance(error, ActivityError) else None
    if isinstance(cause, ApplicationError):
        return cause.type or "ApplicationError", cause.message
    if cause is not None:
        return type(cause).__name__, str(cause) or type(cause).__name__
    return type(error).__name__, str(error)
