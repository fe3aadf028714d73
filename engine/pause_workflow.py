"""StepPauseWorkflow: one per paused step (id `step-pause-<step>`), the durable side of a pause.

`checkout pause STEP` signals it `pause` and `checkout resume STEP --rate N` signals it
`resume`, both with signal-with-start, so it runs whenever a step is paused, whichever
process asked. It writes the pause into KV (`engine.pauses`, which every worker watches)
through a local activity. An order whose step finds itself paused signals it `register`
with its workflow id and waits (no timer). After `resume` it signals the orders `release`,
one at a time, `rate` a second on average, each gap drawn between half and one and a half
of 1/rate (jitter: the provider is not hit in lockstep). Orders that register while it is
not paused (a worker whose copy of the KV was a moment late) are released the same way.

The releases go out from a local activity, a batch of about RELEASE_BATCH_SECONDS at a time:
a workflow timer per release would cost history and, on the server, fires about once a
second at best, far slower than the rate asked. A batch retried after a worker died signals
its orders again, which changes nothing (an order not waiting ignores `release`). A pause
that comes during a batch takes effect after it.
Its history stays bounded: it continues as new when Temporal suggests it, carrying its state.
It ends once the step is not paused and no order waits.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from nats.js.kv import KeyValue
    from temporalio.client import Client
    from temporalio.service import RPCError, RPCStatusCode

    from engine.models import DEFAULT_RELEASE_RATE, Step, StepPause
    from engine.pauses import write_pause

PAUSE_WORKFLOW_TYPE = "StepPauseWorkflow"
PAUSE_SIGNAL = "pause"  # argument: the reason (text)
RESUME_SIGNAL = "resume"  # argument: the release rate, orders per second
REGISTER_SIGNAL = "register"  # argument: the waiting order's workflow id
RELEASE_SIGNAL = "release"  # to an order; argument: the step it may go on with
_KV_TIMEOUT = timedelta(seconds=5)
RELEASE_BATCH_SECONDS = 2.0  # how long one batch of releases takes at the rate
_MAX_HISTORY = 10_000  # continue as new before this even when the server suggests nothing


def pause_workflow_id(step: Step) -> str:
    return f"step-pause-{step.value}"


class PauseControl(BaseModel):
    """The control workflow's input and state (carried across continue-as-new)."""

    step: Step
    paused: bool = False
    reason: str = ""
    since: datetime | None = None
    rate: float = DEFAULT_RELEASE_RATE
    waiting: list[str] = Field(default_factory=list)  # order workflow ids, in the order they came
    released: int = 0
    continued: int = 0  # how many times it continued as new (its history is bounded)


class PauseRecord(BaseModel):
    """What the `record_pause` activity writes: the step's pause, or None when it is not paused."""

    step: Step
    pause: StepPause | None = None


class ReleaseBatch(BaseModel):
    """What the `release_orders` activity signals: these orders, at this rate."""

    step: Step
    order_workflow_ids: list[str]
    rate: float


class PauseActivities:
    """The control workflow's activities: they need the worker's KV bucket and Temporal client."""

    def __init__(self, kv: KeyValue, client: Client) -> None:
        self._kv = kv
        self._client = client

    @activity.defn(name="record_pause")
    async def record_pause(self, record: PauseRecord) -> None:
        await write_pause(self._kv, record.step, record.pause)

    @activity.defn(name="release_orders")
    async def release_orders(self, batch: ReleaseBatch) -> None:
        """Signal each order `release`, each followed by a gap of 1/rate, jittered by half either way."""
        for workflow_id in batch.order_workflow_ids:
            try:
                await self._client.get_workflow_handle(workflow_id).signal(RELEASE_SIGNAL, batch.step.value)
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:  # NOT_FOUND: it has ended meanwhile
                    raise
            await asyncio.sleep(random.uniform(0.5, 1.5) / batch.rate)

    def all(self) -> list[Callable[..., Any]]:
        return [self.record_pause, self.release_orders]


def release_batch_size(rate: float) -> int:
    return max(1, int(rate * RELEASE_BATCH_SECONDS))


@workflow.defn(name=PAUSE_WORKFLOW_TYPE)
class StepPauseWorkflow:
    @workflow.init
    def __init__(self, control: PauseControl) -> None:
        self._control = control
        self._written: tuple[bool, str] | None = None  # what KV holds as far as this run knows

    @workflow.run
    async def run(self, control: PauseControl) -> PauseControl:
        state = self._control
        while True:
            if (state.paused, state.reason) != self._written:
                self._written = (state.paused, state.reason)
                await self._record()
            if state.paused:
                await workflow.wait_condition(lambda: (state.paused, state.reason) != self._written or self._too_long())
            elif state.waiting:
                await self._release(state.waiting[: release_batch_size(state.rate)])
            else:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not state.paused and not state.waiting:
                    return state
            if self._too_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                state.continued += 1
                workflow.continue_as_new(state)

    @workflow.signal(name=PAUSE_SIGNAL)
    def pause(self, reason: str) -> None:
        state = self._control
        if not state.paused:
            state.since = workflow.now()
        state.paused = True
        state.reason = reason

    @workflow.signal(name=RESUME_SIGNAL)
    def resume(self, rate: float) -> None:
        self._control.paused = False
        self._control.reason = ""
        self._control.since = None
        if rate > 0:
            self._control.rate = rate

    @workflow.signal(name=REGISTER_SIGNAL)
    def register(self, order_workflow_id: str) -> None:
        if order_workflow_id not in self._control.waiting:
            self._control.waiting.append(order_workflow_id)

    @workflow.query
    def control(self) -> PauseControl:
        return self._control

    async def _record(self) -> None:
        state = self._control
        pause = StepPause(step=state.step, reason=state.reason, since=state.since or workflow.now())
        await workflow.execute_local_activity_method(
            PauseActivities.record_pause,
            PauseRecord(step=state.step, pause=pause if state.paused else None),
            start_to_close_timeout=_KV_TIMEOUT,
        )

    async def _release(self, batch: list[str]) -> None:
        """Let the first waiting orders go on, at the rate (see `PauseActivities.release_orders`)."""
        state = self._control
        await workflow.execute_local_activity_method(
            PauseActivities.release_orders,
            ReleaseBatch(step=state.step, order_workflow_ids=batch, rate=state.rate),
            start_to_close_timeout=timedelta(seconds=1.5 * len(batch) / state.rate + 10),
        )
        del state.waiting[: len(batch)]  # registrations meanwhile were appended after them
        state.released += len(batch)

    def _too_long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > _MAX_HISTORY
