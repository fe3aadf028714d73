"""Effects applied exactly once, whatever process dies when: the record decides, markers remember.

An effect changes the counters of one or more accounts (stock levels, the ledger) for one
request. A KV write cannot cover two keys, so the record of a request and the change to an
account can never be one write. Instead:

1. Apply: each account gets the change *and* a marker naming the request, in one
   compare-and-set write. An account that already holds the request's marker is not
   changed again (a retry, or a concurrent attempt, adopts the marker it finds).
2. Decide: the request's record is created once (`create` fails if it exists). Its reply
   and the owner of each marker that counts are the outcome; whoever creates it first wins.
3. Settle: every marker of the request is then compared with the record. A marker the
   record counts is dropped (the change stays); any other is undone (change reversed,
   marker dropped). Settling is idempotent and anyone may do it.

Why nothing is lost when a process is killed at any point:
- before 1, or between accounts in 1: markers without a record. The next attempt adopts
  them and finishes; a compensation first decides the forward request as `voided`, then
  settles, which undoes them. Either way the multi-account effect ends all or nothing.
- between 1 and 2: the same. Between 2 and 3: the record stands; the markers are settled
  by the next attempt, the compensation, or the sweeper (`sweep`) of any services process.
- a late attempt (a paused process, a write delayed across a reconnect) that applies after
  the outcome was decided loses the create in 2 and settles its own marker away; if it
  dies first, its marker has a record that does not count it, and the sweeper undoes it.
So an account always equals its opening balance plus the effects its records count, plus
the markers not yet settled, and a settled request leaves exactly its record's effect.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from engine.models import ServiceReply

from . import replies
from .store import (
    LEDGER_BUCKET,
    STOCK_BUCKET,
    Account,
    Buckets,
    KeyWriter,
    Marker,
    Record,
    Records,
    keys_of,
    now,
    read_account,
)

log = logging.getLogger(__name__)

STOCK = "stock"
LEDGER = "ledger"
SETTLE_AFTER_SECONDS = 10.0  # the sweeper leaves younger markers to the attempt that is settling them
SWEEP_SECONDS = 5.0  # how often each services process sweeps
NEVER_NEGATIVE = "units"  # no change may leave less than nothing in stock


@dataclass(frozen=True, order=True)
class AccountRef:
    bucket: str  # STOCK or LEDGER
    key: str

    def __str__(self) -> str:
        return f"{self.bucket}/{self.key}"

    @classmethod
    def parse(cls, text: str) -> AccountRef:
        bucket, _, key = text.partition("/")
        return cls(bucket, key)


Delta = dict[str, int]


@dataclass(frozen=True)
class Answer:
    reply: ServiceReply
    replayed: bool = False  # the stored outcome of an earlier identical request


class Refused(Exception):
    """An account cannot take the change: it would go below zero, or it does not exist."""

    def __init__(self, account: AccountRef, *, missing: bool = False) -> None:
        super().__init__(str(account))
        self.account = account
        self.missing = missing


class Effects:
    """Apply, decide and settle effects on the accounts in `buckets`."""

    def __init__(self, buckets: Buckets) -> None:
        self.records = Records(buckets.requests)
        self._buckets = buckets
        self._writers: dict[str, KeyWriter[Any]] = {
            STOCK: KeyWriter(buckets.stock),
            LEDGER: KeyWriter(buckets.ledger),
        }

    async def replay(self, key: str) -> Answer | None:
        record = await self.records.get(key)
        return Answer(record.reply, replayed=True) if record is not None else None

    async def apply(
        self,
        key: str,
        deltas: dict[AccountRef, Delta],
        succeeded: ServiceReply,
        refused: Callable[[Refused], ServiceReply],
    ) -> Answer:
        """Apply `deltas` once for request `key`: `succeeded` if every account took its change,
        else `refused(why)` for the first that could not, and nothing changed."""
        if answer := await self.replay(key):
            return answer
        try:
            owners = await self.mark(key, deltas)
        except Refused as why:
            return await self.decide(key, Record(reply=refused(why), at=now()), deltas)
        effects = {str(account): delta for account, delta in deltas.items()}
        return await self.decide(key, Record(reply=succeeded, effects=effects, owners=owners, at=now()), deltas)

    async def mark(self, key: str, deltas: dict[AccountRef, Delta]) -> dict[str, str]:
        """Step 1: apply each delta with a marker (adopting markers already there); the owner of
        the marker on each account. Raises Refused at the first account that cannot take it."""
        owner = uuid.uuid4().hex[:12]
        return {
            str(account): await self._writer(account).change(
                account.key, _add_marker(account, key, owner, deltas[account])
            )
            for account in sorted(deltas)
        }

    async def decide(self, key: str, record: Record, accounts: Iterable[AccountRef]) -> Answer:
        """Create `key`'s record unless it exists, then settle its markers on `accounts`."""
        standing = await self.records.create(key, record)
        await self.settle(key, standing, accounts)
        return Answer(standing.reply, replayed=standing is not record)

    async def void(self, key: str, accounts: Iterable[AccountRef], why: str) -> Record:
        """Decide `key` as voided unless it is decided already (so it can never apply later); its record."""
        voided = Record(reply=replies.declined(replies.CODE_VOIDED, why), at=now())
        standing = await self.records.create(key, voided)
        await self.settle(key, standing, accounts)
        return standing

    async def settle(self, key: str, record: Record, accounts: Iterable[AccountRef]) -> None:
        for account in accounts:
            await self._writer(account).change(account.key, _settle_marker(account, key, record))

    async def sweep(self, older_than: float = SETTLE_AFTER_SECONDS) -> int:
        """Settle markers older than `older_than` seconds whose record exists: those of attempts
        that died before settling. Markers without a record belong to requests still being
        decided (or to terminated orders, which the audit reports). Returns how many settled."""
        settled = 0
        for account, markers in await self.unsettled(older_than=older_than):
            for key in markers:
                record = await self.records.get(key)
                if record is not None:
                    await self.settle(key, record, [account])
                    settled += 1
        return settled

    async def unsettled(self, older_than: float = 0.0) -> list[tuple[AccountRef, list[str]]]:
        """Every account with markers older than `older_than` seconds, and their record keys."""
        found = []
        cutoff = time.time() - older_than
        for account, value in await self.accounts():
            keys = [key for key, marker in value.markers.items() if marker.at <= cutoff]
            if keys:
                found.append((account, keys))
        return found

    async def account(self, account: AccountRef) -> Account | None:
        kv = self._buckets.stock if account.bucket == STOCK else self._buckets.ledger
        return await read_account(kv, account.key)

    async def accounts(self) -> list[tuple[AccountRef, Account]]:
        """Every stock account and the ledger, read now."""
        result = []
        for bucket, kv, name in (
            (STOCK, self._buckets.stock, STOCK_BUCKET),
            (LEDGER, self._buckets.ledger, LEDGER_BUCKET),
        ):
            for key in await keys_of(self._buckets.js, name):
                account = await read_account(kv, key)
                if account is not None:
                    result.append((AccountRef(bucket, key), account))
        return result

    def _writer(self, account: AccountRef) -> KeyWriter[Any]:
        return self._writers[account.bucket]


def _add_marker(account: AccountRef, key: str, owner: str, delta: Delta) -> Callable[..., tuple[Account | None, str]]:
    def change(current: Account | None) -> tuple[Account | None, str]:
        if current is None:
            raise Refused(account, missing=True)
        if key in current.markers:  # applied by an earlier or concurrent attempt: adopt it
            return None, current.markers[key].owner
        counters = _plus(current.counters, delta)
        if delta.get(NEVER_NEGATIVE, 0) < 0 and counters[NEVER_NEGATIVE] < 0:
            raise Refused(account)
        markers = {**current.markers, key: Marker(owner=owner, delta=delta, at=time.time())}
        return _with(current, counters, markers), owner

    return change


def _settle_marker(account: AccountRef, key: str, record: Record) -> Callable[..., tuple[Account | None, None]]:
    def change(current: Account | None) -> tuple[Account | None, None]:
        marker = current.markers.get(key) if current is not None else None
        if current is None or marker is None:
            return None, None
        counts = record.ok and record.owners.get(str(account)) == marker.owner
        counters = current.counters if counts else _plus(current.counters, {n: -v for n, v in marker.delta.items()})
        markers = {name: m for name, m in current.markers.items() if name != key}
        return _with(current, counters, markers), None

    return change


def _with(account: Account, counters: dict[str, int], markers: dict[str, Marker]) -> Account:
    return Account(counters=counters, opening=account.opening, markers=markers, created=account.created)


def _plus(counters: dict[str, int], delta: Delta) -> dict[str, int]:
    return {**counters, **{name: counters.get(name, 0) + value for name, value in delta.items()}}
