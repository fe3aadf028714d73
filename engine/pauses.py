"""Paused steps as every worker sees them: KV bucket `checkout_pauses`, one key per paused step.

The bucket is a projection: only the step's control workflow (`engine.pause_workflow`) writes
it, so Temporal keeps the truth and its history says who paused what and when. Each worker
process keeps a copy, `PauseCache`, fresh through a KV watch as `FaultsCache` keeps faults:
a step's local activity asks the copy, in memory, before its request goes out, so a step
that is not paused costs nothing more than before.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from engine.models import PAUSABLE_STEPS, Step, StepPause
from engine.services.store import KeyWatch, get_entry, jetstream_errors

PAUSES_BUCKET = "checkout_pauses"

log = logging.getLogger(__name__)


async def open_pauses_bucket(js: JetStreamContext, replicas: int = 1) -> KeyValue:
    """The bucket, created when missing (by a worker: other roles may not create it)."""
    with jetstream_errors():
        try:
            return await js.key_value(PAUSES_BUCKET)
        except BucketNotFoundError:
            return await js.create_key_value(
                KeyValueConfig(
                    bucket=PAUSES_BUCKET, description="checkout-ops: paused saga steps", direct=False, replicas=replicas
                )
            )


async def read_pauses(js: JetStreamContext) -> dict[Step, StepPause]:
    """The paused steps now (none when the bucket does not exist yet: nothing was ever paused)."""
    with jetstream_errors():
        try:
            kv = await js.key_value(PAUSES_BUCKET)
        except BucketNotFoundError:
            return {}
        pauses = {}
        for step in PAUSABLE_STEPS:
            entry = await get_entry(kv, step.value)
            if entry is not None and (pause := _decode(entry.value)) is not None:
                pauses[step] = pause
        return pauses


async def write_pause(kv: KeyValue, step: Step, pause: StepPause | None) -> None:
    """Record `step` as paused, or (None) as not paused."""
    with jetstream_errors():
        if pause is None:
            await kv.delete(step.value)
        else:
            await kv.put(step.value, pause.model_dump_json().encode())


def _decode(value: bytes | None) -> StepPause | None:
    if not value:
        return None
    try:
        return StepPause.model_validate_json(value)
    except ValidationError:
        log.warning("ignoring an invalid step pause in KV: %r", value[:200])
        return None


class PauseCache:
    """This process's copy of the paused steps, updated by a KV watch as soon as they change."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        self._pauses: dict[Step, StepPause] = {}
        self._watch = KeyWatch(kv, (step.value for step in PAUSABLE_STEPS), self._apply, "pauses-watch")

    def get(self, step: Step) -> StepPause | None:
        return self._pauses.get(step)

    async def start(self) -> None:
        await self._watch.start()

    def _apply(self, key: str, value: bytes | None) -> None:
        try:
            step = Step(key)
        except ValueError:
            return
        pause = _decode(value)
        if pause is None:
            self._pauses.pop(step, None)
        else:
            self._pauses[step] = pause

    async def stop(self) -> None:
        await self._watch.stop()
