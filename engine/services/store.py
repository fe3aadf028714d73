"""Service state in JetStream KV: the buckets, the accounts (stock and ledger), the request records.

Buckets (shared by every process on the same NATS server or cluster):
- `checkout_stock`: one account per SKU (key = the SKU).
- `checkout_ledger`: one account, key `totals`.
- `checkout_requests`: one record per idempotency key `<order_id>:<step>`, stored under
  `<order_id>.<step>` (KV keys may not contain ':'). A record is written once, when its
  request's outcome is decided, and never changed; it expires after `nats.records_ttl_hours`.
- `checkout_faults`: one key per endpoint (see `faults.py`).

An account is JSON: `counters` (stock: `units`, `reserved`, `restocked`, `adjusted`, `ops`;
ledger: `charged_cents`, `refunded_cents`, `ops`), `opening` (the counters it was created
with: the seeded stock), and `markers`: effects applied to the counters whose records
are not settled yet (see `effects.py`, which explains why this makes effects exactly-once).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from pydantic import BaseModel, Field

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
    js: JetStreamContext
    stock: KeyValue
    ledger: KeyValue
    requests: KeyValue
    faults: KeyValue


async def _bucket(
    js: JetStreamContext, name: str, description: str, replicas: int = 1, ttl_seconds: float = 0
) -> KeyValue:
    try:
        kv = await js.key_value(name)
    except BucketNotFoundError:
        # direct=False: reads go to the stream leader, so a record written by another
        # process is always seen (deciding an outcome relies on that).
        return await js.create_key_value(
            KeyValueConfig(
                bucket=name, description=description, direct=False, replicas=replicas, ttl=ttl_seconds or None
            )
        )
    if ttl_seconds:
        await _ensure_max_age(js, name, ttl_seconds)
    return kv


async def _ensure_max_age(js: JetStreamContext, bucket: str, seconds: float) -> None:
    """A bucket created before records expired (or with another TTL) gets the configured one."""
    stream = f"KV_{bucket}"
    info = await js.stream_info(stream)
    if info.config.max_age != seconds:
        info.config.max_age = seconds
        if info.config.duplicate_window and info.config.duplicate_window > seconds:
            info.config.duplicate_window = seconds
        await js.update_stream(info.config)


@contextmanager
def jetstream_errors() -> Iterator[None]:
    """Turn 'nobody answers' into Unreachable with one line."""
    try:
        yield
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        raise Unreachable("JetStream does not answer: is nats-server running with JetStream (-js)?") from None
    except nats.errors.ConnectionClosedError:
        raise Unreachable("the NATS connection is closed") from None


async def open_buckets(js: JetStreamContext, replicas: int = 1, records_ttl_seconds: float = 0) -> Buckets:
    """Open the four buckets, creating any that is missing."""
    with jetstream_errors():
        return Buckets(
            js=js,
            stock=await _bucket(js, STOCK_BUCKET, "checkout-ops: stock account per SKU", replicas),
            ledger=await _bucket(js, LEDGER_BUCKET, "checkout-ops: payment ledger account", replicas),
            requests=await _bucket(
                js, REQUESTS_BUCKET, "checkout-ops: outcome of every service request", replicas, records_ttl_seconds
            ),
            faults=await _bucket(js, FAULTS_BUCKET, "checkout-ops: injected faults per endpoint", replicas),
        )


async def prepare_state(js: JetStreamContext, settings: Settings) -> Buckets:
    """Open the buckets; open an account for every catalogue SKU and the ledger if missing (never overwrite)."""
    buckets = await open_buckets(js, settings.nats.replicas, settings.nats.records_ttl_hours * 3600)
    with jetstream_errors():
        for sku, item in settings.catalogue.items():
            await _create_if_missing(buckets.stock, sku, Account.opened(units=item.stock))
        await _create_if_missing(buckets.ledger, LEDGER_KEY, Account.opened(charged_cents=0, refunded_cents=0))
    return buckets


async def _create_if_missing(kv: KeyValue, key: str, account: Account) -> None:
    try:
        await kv.create(key, account.encode())
    except KeyWrongLastSequenceError:
        pass


async def get_entry(kv: KeyValue, key: str) -> KeyValue.Entry | None:
    try:
        return await kv.get(key)
    except KeyNotFoundError:  # deleted keys raise this too
        return None


class KeyWatch:
    """A process's view of some keys of a bucket: their current values, then every change.

    `apply(key, value)` gets each (value None: deleted). The current values come from direct
    reads first: a watch's "that was all" marker can come before the values it already sent
    have been read. The watch then delivers every change, of any key of the bucket."""

    def __init__(
        self, kv: KeyValue, keys: Iterable[str], apply: Callable[[str, bytes | None], None], name: str
    ) -> None:
        self._kv, self._keys, self._apply, self._name = kv, list(keys), apply, name
        self._watcher: KeyValue.KeyWatcher | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for key in self._keys:
            if entry := await get_entry(self._kv, key):
                self._deliver(entry)
        self._watcher = await self._kv.watchall()
        self._task = asyncio.create_task(self._follow(), name=self._name)

    async def _follow(self) -> None:
        assert self._watcher is not None
        async for entry in self._watcher:
            if entry is not None:
                self._deliver(entry)

    def _deliver(self, entry: KeyValue.Entry) -> None:
        self._apply(entry.key, None if entry.operation in (KV_DEL, KV_PURGE) else entry.value)

    async def stop(self) -> None:
        if self._watcher is not None:
            await self._watcher.stop()  # type: ignore[no-untyped-call]
        if self._task is not None:
            await self._task


async def keys_of(js: JetStreamContext, bucket: str) -> list[str]:
    """The keys of a bucket, from its stream's subjects (a KV watch can end its listing early)."""
    prefix = f"$KV.{bucket}."
    try:
        info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"{prefix}>")
    except nats.js.errors.NotFoundError:
        return []
    return sorted(subject.removeprefix(prefix) for subject in info.state.subjects or {})


# --- accounts --------------------------------------------------------------------------------


class Marker(BaseModel):
    """An effect applied to an account's counters by one attempt, until its record settles it."""

    owner: str  # the attempt that applied it
    delta: dict[str, int]
    at: float  # when, in seconds since the epoch


class Account(BaseModel):
    counters: dict[str, int]
    opening: dict[str, int]
    markers: dict[str, Marker] = Field(default_factory=dict)  # record key -> unsettled effect
    created: float = 0.0

    @classmethod
    def opened(cls, **counters: int) -> Account:
        counters = {**counters, "ops": 0}
        if "units" in counters:
            counters |= {"reserved": 0, "restocked": 0, "adjusted": 0}
        return cls(counters=dict(counters), opening=dict(counters), created=time.time())

    def value(self, counter: str) -> int:
        return self.counters.get(counter, 0)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, data: bytes) -> Account:
        """Also reads the plain values written before accounts existed: a stock level as
        a decimal string, ledger totals as `{"charged_cents", "refunded_cents"}`. Whatever
        they held becomes the account's opening balance."""
        if data.strip().isdigit():
            return cls.opened(units=int(data))
        raw = json.loads(data)
        if "counters" not in raw:
            return cls.opened(**{name: int(raw.get(name, 0)) for name in ("charged_cents", "refunded_cents")})
        return cls.model_validate(raw)


T = TypeVar("T")
# A change sees the current account (None when the key is missing) and returns the account
# to write (None: write nothing) and what `KeyWriter.change` should return.
Change = Callable[[Account | None], tuple[Account | None, T]]


class KeyWriter(Generic[T]):
    """Compare-and-set updates of the accounts of one bucket.

    Changes this process makes to the same key are queued and written together in one
    compare-and-set: with one write per request, a hot key such as the ledger would make
    every concurrent request retry. Other processes are handled by the revision check
    and a retry, which runs the changes again on the new value: they must be pure.
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._queues: dict[str, list[tuple[Change[Any], asyncio.Future[Any]]]] = {}
        self._flushers: set[asyncio.Task[None]] = set()

    async def change(self, key: str, change: Change[T]) -> T:
        """Apply `change` to the account at `key`; what it returned for the value it was finally applied to."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
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

    async def _write(self, key: str, batch: list[tuple[Change[Any], asyncio.Future[Any]]]) -> None:
        try:
            for attempt in range(_MAX_CAS_ATTEMPTS):
                entry = await get_entry(self._kv, key)
                current = Account.decode(entry.value) if entry and entry.value else None
                revision = (entry.revision or 0) if entry else 0
                account, changed = current, False
                results: list[Any] = []
                for change, _ in batch:
                    try:
                        new, result = change(account)
                    except Exception as error:
                        new, result = None, error
                    results.append(result)
                    if new is not None:
                        account, changed = new, True
                if changed and account is not None:
                    try:
                        if revision == 0:
                            await self._kv.create(key, account.encode())
                        else:
                            await self._kv.update(key, account.encode(), last=revision)
                    except KeyWrongLastSequenceError:  # another process wrote it: read, then try again
                        if attempt:
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


class ConflictError(Exception):
    """An optimistic update lost the race too many times in a row."""


async def read_account(kv: KeyValue, key: str) -> Account | None:
    entry = await get_entry(kv, key)
    return Account.decode(entry.value) if entry and entry.value else None


async def read_ledger(kv: KeyValue) -> LedgerTotals:
    account = await read_account(kv, LEDGER_KEY)
    if account is None:
        return LedgerTotals()
    return LedgerTotals(charged_cents=account.value("charged_cents"), refunded_cents=account.value("refunded_cents"))


# --- request records ------------------------------------------------------------------------


def record_key(order_id: str, step: Step | str) -> str:
    """The KV key of the record of idempotency key `<order_id>:<step>`."""
    return f"{order_id}.{Step(step).value}"


class Record(BaseModel):
    """The decided outcome of one request: written once, by whoever decides it first."""

    reply: ServiceReply
    effects: dict[str, dict[str, int]] = Field(default_factory=dict)  # account -> delta it stands for
    owners: dict[str, str] = Field(default_factory=dict)  # account -> the owner of the marker that counts
    at: datetime
    legacy: bool = False  # written by a version before records held their effects
    unfinished: bool = False  # an earlier version's claim that never finished: its effect is unknown

    @property
    def ok(self) -> bool:
        return self.reply.ok

    @classmethod
    def decode(cls, data: bytes) -> Record:
        raw = json.loads(data)
        if "state" in raw:  # the claim/finish records of earlier versions
            reply = raw.get("reply") or {
                "ok": False,
                "code": "voided",
                "message": "claimed by an earlier version that never finished: outcome unknown",
            }
            unfinished = raw["state"] != "done"
            return cls(reply=ServiceReply.model_validate(reply), at=raw["at"], legacy=True, unfinished=unfinished)
        return cls.model_validate(raw)


class Records:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def get(self, key: str) -> Record | None:
        entry = await get_entry(self._kv, key)
        return Record.decode(entry.value) if entry and entry.value else None

    async def create(self, key: str, record: Record) -> Record:
        """Write `record` unless one exists: the record that stands, ours or the earlier one."""
        try:
            await self._kv.create(key, record.model_dump_json().encode())
            return record
        except KeyWrongLastSequenceError:
            existing = await self.get(key)
            if existing is None:  # expired between the two calls: impossible within a saga's life
                raise
            return existing


def now() -> datetime:
    return datetime.now(UTC)
