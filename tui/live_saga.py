"""The Detail's saga kept current from step events between two reads of its state.

A query goes to a worker and may answer a second or two later when the worker is busy;
the step events reach the table at once. Folding the same events into the saga the Detail
shows keeps the two in step; the next query's answer, folded with the events that came
after it was asked, replaces it. Folding only moves forward: an event older than what the
saga already knows changes nothing, so folding twice is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.models import (
    COMPENSATION_OF,
    FORWARD_STEPS,
    ORDER_STEP,
    EventKind,
    OrderStatus,
    Reason,
    SagaState,
    Step,
    StepEvent,
    StepState,
    StepStatus,
)

COMPENSATIONS = frozenset(COMPENSATION_OF.values())
_DONE = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.SKIPPED, StepStatus.CUT_OFF)


def fold(saga: SagaState, events: Iterable[StepEvent]) -> SagaState:
    """`saga` with `events` (of its order, oldest first) applied; `saga` itself is not changed."""
    saga = saga.model_copy(deep=True)
    for event in events:
        if event.order_id == saga.order.order_id and not saga.status.is_terminal:
            _apply(saga, event)
    return saga


def _apply(saga: SagaState, event: StepEvent) -> None:
    if event.reason is not None:
        saga.reason = event.reason
    if event.step == ORDER_STEP:
        _order_status(saga, event)
        return
    try:
        name = Step(event.step)
    except ValueError:
        return
    step = _step(saga, name)
    if event.attempt < step.attempts or (event.attempt == step.attempts and step.status in _DONE):
        return  # older than what the saga knows
    step.attempts = max(step.attempts, event.attempt)
    if event.kind in (EventKind.STARTED, EventKind.COMPENSATING):
        step.status = StepStatus.RUNNING
        step.started_at = step.started_at or event.time
        saga.current_step = name
    elif event.kind in (EventKind.SUCCEEDED, EventKind.COMPENSATED):
        step.status = StepStatus.SUCCEEDED
        step.finished_at = event.time
    elif event.kind is EventKind.FAILED:
        step.last_error = event.error
        # Until the order says otherwise, a failed attempt is retried.
        step.status = StepStatus.RETRYING
    elif event.kind is EventKind.PAUSED:
        step.status = StepStatus.PAUSED
        saga.current_step = saga.paused_before = name
    elif event.kind is EventKind.RELEASED:
        step.status = StepStatus.RUNNING
        saga.paused_before = None
    _order_status(saga, event)


def _order_status(saga: SagaState, event: StepEvent) -> None:
    status = event.status
    if status is saga.status:
        return
    if status is OrderStatus.COMPENSATING or status.is_terminal:
        _interrupt_forward_steps(saga)
        saga.paused_before = None
    saga.status = status
    if status is OrderStatus.COMPLETED:  # no failure reason, whatever its compensation started for
        saga.reason, saga.note = None, event.note
    if status.is_terminal:
        saga.finished_at = event.time
        saga.current_step = None


def _interrupt_forward_steps(saga: SagaState) -> None:
    """The order stopped going forward: steps still running failed (the hold: was cancelled), the rest never run."""
    for step in saga.steps:
        if step.compensation:
            continue
        if step.status in (StepStatus.RUNNING, StepStatus.RETRYING, StepStatus.PAUSED):
            waited = step.name is Step.HOLD or step.status is StepStatus.PAUSED  # a cancel cut its wait short
            cancelled = waited and saga.reason is Reason.CANCELLED
            step.status = StepStatus.CANCELLED if cancelled else StepStatus.FAILED
        elif step.status is StepStatus.PENDING:
            step.status = StepStatus.SKIPPED


def _step(saga: SagaState, name: Step) -> StepState:
    compensation = name in COMPENSATIONS
    for step in saga.steps:
        if step.name is name and step.compensation == compensation:
            return step
    step = StepState(name=name, compensation=compensation)
    if compensation:
        saga.steps.append(step)
    else:  # forward steps keep their saga order
        rank = FORWARD_STEPS.index(name)
        before = [s for s in saga.steps if not s.compensation and FORWARD_STEPS.index(s.name) < rank]
        saga.steps.insert(saga.steps.index(before[-1]) + 1 if before else 0, step)
    return step
