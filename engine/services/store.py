"""Service state in JetStream KV: the buckets, stock and ledger counters, idempotent-request records.

Buckets (shared by every process on the same NATS server or cluster):
- `checkout_stock`: one key per SKU, the units in stock as a decimal string.
- `checkout_ledger`: key `totals`, `{"charged_cents": int, "refunded_cents": int}`.
- `checkout_requests`: one record per idempotency key `<order_id>:<step>`, stored under
  `<order_id>.<step>` (KV keys may not contain ':'). A record is `pending` while its
  request is applied, then `done` with the reply every repeat of the request gets.
  Charges, reservations and shipments are these records.
- `checkout_faults`: one key per endpoint (see `faults.py`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel

from engine.config import Settings
from engine.errors import Unreachable
from engine.models import LedgerTotals, ServiceReply, Step

STOCK_BUCKET = "checkout_stock"
LEDGER_BUCKET = "checkout_ledger"
REQUESTS_BUCKET = "checkout_requests"
FAULTS_BUCKET = "checkout_faults"
LEDGER_KEY = "totals"

_MAX_CAS_ATTEMPTS = 200


@dataclass(frozen=True)
class Buckets:
    stock: KeyValue
    ledger: KeyValue
    requests: KeyValue
    faults: KeyValue


async def _bucket(js: JetStreamContext, name: str, description: str, replicas: int = 1) -> KeyValue:
    try:
        return await js.key_value(name)
    except BucketNotFoundError:
        # direct=False: reads go to the stream leader, so a record written by another
        # process is always seen (the voided/in-progress checks rely on that).
        return await js.create_key_value(
            KeyValueConfig(bucket=name, description=description, direct=False, replicas=replicas)
        )


@contextmanager
def jetstream_errors() -> Iterator[None]:
    """Turn 'nobody answers' into Unreachable with one line."""
    try:
        yield
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        raise Unreachable("JetStream does not answer: is nats-server running with JetStream (-js)?") from None
    except nats.errors.ConnectionClosedError:
        raise Unreachable("the NATS connection is closed") from None


async def open_buckets(js: JetStreamContext, replicas: int = 1) -> Buckets:
    """Open the four buckets, creating any that is missing."""
    with jetstream_errors():
        return Buckets(
            stock=await _bucket(js, STOCK_BUCKET, "checkout-ops: units in stock per SKU", replicas),
            ledger=await _bucket(js, LEDGER_BUCKET, "checkout-ops: payment ledger totals", replicas),
            requests=await _bucket(js, REQUESTS_BUCKET, "checkout-ops: idempotent service requests", replicas),
            faults=await _bucket(js, FAULTS_BUCKET, "checkout-ops: injected faults per endpoint", replicas),
        )


async def ensure_state(js: JetStreamContext, settings: Settings) -> None:
    """Create missing buckets; seed stock for catalogue SKUs without an entry (never overwrite)."""
    await prepare_state(js, settings)


async def prepare_state(js: JetStreamContext, settings: Settings) -> Buckets:
    buckets = await open_buckets(js, settings.nats.replicas)
    with jetstream_errors():
        for sku, item in settings.catalogue.items():
            await _create_if_missing(buckets.stock, sku, str(item.stock).encode())
        await _create_if_missing(buckets.ledger, LEDGER_KEY, LedgerTotals().model_dump_json().encode())
    return buckets


async def _create_if_missing(kv: KeyValue, key: str, value: bytes) -> None:
    try:
        await kv.create(key, value)
    except KeyWrongLastSequenceError:
        pass


async def get_entry(kv: KeyValue, key: str) -> KeyValue.Entry | None:
    try:
        return await kv.get(key)
    except KeyNotFoundError:  # deleted keys raise this too
        return None


class ConflictError(Exception):
    """An optimistic update lost the race too many times in a row."""


Change = Callable[[bytes | None], bytes | None]


class KeyWriter:
    """Optimistic (compare-and-set) updates of the keys of one bucket.

    Changes this process makes to the same key are queued and written together in one
    compare-and-set: with one update per request, a hot key such as the ledger totals
    would make every concurrent request retry. Other processes are handled by the
    revision check and a retry.
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._queues: dict[str, list[tuple[Change, asyncio.Future[bytes | None]]]] = {}
        self._flushers: set[asyncio.Task[None]] = set()

    async def change(self, key: str, change: Change) -> bytes | None:
        """Replace the value of `key` with `change(current)` (current is None when missing).

        `change` must be pure (it may run again after a conflict); returning None writes
        nothing. Returns what `change` returned for the value it was finally applied to.
        """
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        if key not in self._queues:
            self._queues[key] = []
            task = asyncio.create_task(self._flush(key))
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        self._queues[key].append((change, future))
        # Shielded: once queued the change is written, even if this request is cancelled.
        return await asyncio.shield(future)

    async def _flush(self, key: str) -> None:
        try:
            while batch := self._queues[key]:
                self._queues[key] = []
                await self._write(key, batch)
        finally:
            del self._queues[key]

    async def _write(self, key: str, batch: list[tuple[Change, asyncio.Future[bytes | None]]]) -> None:
        try:
            for attempt in range(_MAX_CAS_ATTEMPTS):
                entry = await get_entry(self._kv, key)
                value = current = entry.value if entry else None
                results: list[bytes | None | Exception] = []
                for change, _ in batch:
                    try:
                        new = change(value)
                    except Exception as error:
                        new = error
                    results.append(new)
                    if isinstance(new, bytes):
                        value = new
                if value is not current:
                    try:
                        if entry is None:
                            await self._kv.create(key, value)
                        else:
                            await self._kv.update(key, value, last=entry.revision)
                    except KeyWrongLastSequenceError:
                        await asyncio.sleep(random.uniform(0, 0.001 * min(attempt + 1, 20)))
                        continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        if isinstance(result, Exception):
                            future.set_exception(result)
                        else:
                            future.set_result(result)
                return
            raise ConflictError(f"{key}: too many concurrent updates")
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)


# --- stock -----------------------------------------------------------------------------


class UnknownSku(Exception):
    pass


async def adjust_stock(writer: KeyWriter, sku: str, delta: int) -> int | None:
    """Add `delta` units to `sku`; returns the new level, or None (nothing written) if it would go below 0."""

    def change(current: bytes | None) -> bytes | None:
        if current is None:
            raise UnknownSku(sku)
        level = int(current) + delta
        return str(level).encode() if level >= 0 else None

    written = await writer.change(sku, change)
    return None if written is None else int(written)


async def stock_exists(kv: KeyValue, sku: str) -> bool:
    return await get_entry(kv, sku) is not None


# --- ledger ----------------------------------------------------------------------------


async def add_to_ledger(writer: KeyWriter, charged_cents: int = 0, refunded_cents: int = 0) -> LedgerTotals:
    def change(current: bytes | None) -> bytes:
        totals = LedgerTotals.model_validate_json(current) if current else LedgerTotals()
        totals.charged_cents += charged_cents
        totals.refunded_cents += refunded_cents
        return totals.model_dump_json().encode()

    return LedgerTotals.model_validate_json(await writer.change(LEDGER_KEY, change))


async def read_ledger(kv: KeyValue) -> LedgerTotals:
    entry = await get_entry(kv, LEDGER_KEY)
    return LedgerTotals.model_validate_json(entry.value) if entry else LedgerTotals()


# --- idempotent-request records ----------------------------------------------------------


def record_key(order_id: str, step: Step) -> str:
    """The KV key of the record of idempotency key `<order_id>:<step>`."""
    return f"{order_id}.{step.value}"


class Record(BaseModel):
    state: Literal["pending", "done"]
    reply: ServiceReply | None = None
    at: datetime


@dataclass(frozen=True)
class Claim:
    """This process won the right to apply a request: it owns the pending record."""

    key: str
    revision: int


class Records:
    """Records of requests, one per idempotency key.

    Known limitation: a process killed between `claim` and `finish` (or a handler cancelled
    there because `stop()` timed out) leaves the record pending for good, so repeats of
    that request and its compensation answer `in_progress` until an operator resolves
    it; whether the change was applied is unknown.
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def claim(self, key: str) -> Claim | Record:
        """Atomically create the pending record of `key`; if it exists, return it instead."""
        for _ in range(3):
            try:
                revision = await self._kv.create(key, _encode(Record(state="pending", at=_now())))
                return Claim(key, revision)
            except KeyWrongLastSequenceError:
                existing = await self.read(key)
                if existing is not None:
                    return existing
                # released between our create and read: try again
        return Record(state="pending", at=_now())

    async def finish(self, claim: Claim, reply: ServiceReply) -> None:
        await self._kv.update(claim.key, _encode(Record(state="done", reply=reply, at=_now())), last=claim.revision)

    async def release(self, claim: Claim) -> None:
        """Delete our pending record, so the request can be made again."""
        await self._kv.delete(claim.key, last=claim.revision)

    async def read(self, key: str) -> Record | None:
        entry = await get_entry(self._kv, key)
        return Record.model_validate_json(entry.value) if entry and entry.value else None


def _encode(record: Record) -> bytes:
    return record.model_dump_json().encode()


def _now() -> datetime:
    return datetime.now(UTC)
