"""The step events a workflow records itself, published the moment it records them.

Step events are for watching, like logs and metrics. A step publishes its own start and
outcome (`engine.activities`); the events only the workflow knows of (the order started,
the hold, compensation begun, the order's end when no step announced it) used to ride on
the next activity, which at full load went out a few hundred milliseconds late. A workflow
does no I/O, but its code runs in the worker's process: it hands each event to the worker's
publisher, registered here per task queue, which sends it from the worker's event loop. It
never does while replaying (a replay recorded nothing new: what it replays went out when it
first ran), and the workflow's state never depends on it, so determinism is untouched.

Each event is stamped with the moment the workflow's code recorded it, as a step stamps its
own. The workflow's clock (`workflow.now()`) is when the worker learnt what led to the event,
which under load is a good while before the workflow's code gets to run; until then nobody
could have seen the event, not even by a query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from engine.models import StepEvent

log = logging.getLogger(__name__)

Publish = Callable[[StepEvent], Awaitable[None]]

_handoffs: dict[str, Callable[[StepEvent], None]] = {}  # task queue -> hands an event to its worker's loop


def register(task_queue: str, publish: Publish, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Publish the events of workflows on `task_queue` with `publish`, on `loop`; returns the undo."""
    tasks: set[asyncio.Task[None]] = set()

    async def quietly(event: StepEvent) -> None:
        try:
            await publish(event)
        except Exception as error:  # events are for watching: never a failure of anything else
            log.warning("step event not published: %s", error)

    def start(event: StepEvent) -> None:
        task = loop.create_task(quietly(event))  # started in order: each sends before it first waits
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def handoff(event: StepEvent) -> None:
        try:
            loop.call_soon_threadsafe(start, event)  # workflow code runs in a thread of the worker's pool
        except RuntimeError:  # the loop has closed: the worker is going away
            pass

    _handoffs[task_queue] = handoff

    def unregister() -> None:
        if _handoffs.get(task_queue) is handoff:
            del _handoffs[task_queue]

    return unregister


def emit(task_queue: str, event: StepEvent) -> bool:
    """Hand `event` to the publisher of `task_queue`; False when this process has none."""
    handoff = _handoffs.get(task_queue)
    if handoff is None:
        return False
    handoff(event.model_copy(update={"time": datetime.now(UTC)}))
    return True
