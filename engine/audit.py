"""`checkout audit`: check from Temporal's outcomes and the KV state that no money or stock was lost.

`read_state` loads every request record and account; `check` is a pure function of what was
read, so it is tested on hand-made states. What is checked (each failure is one Discrepancy):
- every ended order's records match its outcome (`COMPLETED`: reserved, charged exactly its
  total, shipped, nothing refunded or restocked; `COMPENSATED`: refunded == charged,
  restocked == reserved, not shipped; `FAILED`: no effect; a terminated order's effects are
  reported for an operator);
- every account equals its opening balance plus the effects its records count plus the
  effects not yet settled (so the ledger totals equal the sum of the charge and refund
  records, and stock equals the seeded level - reserved + restocked + operators' changes);
  more applications than records means an effect applied twice;
- no effect stays unsettled: markers the sweeper should have settled, or effects of an
  ended order that no record decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from engine.models import AuditReport, Discrepancy, OrderStatus, OrderSummary, Step
from engine.services.effects import SETTLE_AFTER_SECONDS, SWEEP_SECONDS, AccountRef, Delta
from engine.services.store import (
    LEDGER_BUCKET,
    REQUESTS_BUCKET,
    STOCK_BUCKET,
    Account,
    Record,
)

# A marker the sweeper should have settled by now (one sweep late, and then some).
OVERDUE_SECONDS = SETTLE_AFTER_SECONDS + 3 * SWEEP_SECONDS
_DELETED = (b"DEL", b"PURGE")


@dataclass
class ServiceState:
    records: dict[str, Record] = field(default_factory=dict)  # record key -> record
    accounts: dict[AccountRef, Account] = field(default_factory=dict)
    records_ttl_seconds: float = 0.0  # 0: records never expire


async def read_state(js: JetStreamContext, records_ttl_seconds: float) -> ServiceState:
    """Every record and account, read in one pass over each bucket's stream."""
    raw_records, stock, ledger = await asyncio.gather(
        _read_bucket(js, REQUESTS_BUCKET), _read_bucket(js, STOCK_BUCKET), _read_bucket(js, LEDGER_BUCKET)
    )
    accounts = {AccountRef("stock", key): Account.decode(value) for key, value in stock.items()}
    accounts |= {AccountRef("ledger", key): Account.decode(value) for key, value in ledger.items()}
    records = {key: Record.decode(value) for key, value in raw_records.items()}
    return ServiceState(records, accounts, records_ttl_seconds)


async def _read_bucket(js: JetStreamContext, bucket: str, attempts: int = 3) -> dict[str, bytes]:
    """The current value of every key. A read that stalls (a cluster electing a new leader for
    the bucket's stream) is tried again from the start."""
    for attempt in range(1, attempts + 1):
        try:
            return await _read_bucket_once(js, bucket)
        except nats.errors.TimeoutError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


async def _read_bucket_once(js: JetStreamContext, bucket: str) -> dict[str, bytes]:
    """The last message per subject, read until none is pending."""
    try:
        info = await js.stream_info(f"KV_{bucket}")
    except nats.js.errors.NotFoundError:  # no such bucket yet: nothing was ever written
        return {}
    if not info.state.messages:
        return {}
    prefix = f"$KV.{bucket}."
    config = ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
    subscription = await js.subscribe(f"{prefix}>", ordered_consumer=True, idle_heartbeat=1.0, config=config)
    values: dict[str, bytes] = {}
    try:
        while True:
            message = await subscription.next_msg(timeout=5)
            key = message.subject.removeprefix(prefix)
            operation = (message.headers or {}).get("KV-Operation", "").encode()
            if operation in _DELETED:
                values.pop(key, None)
            else:
                values[key] = message.data
            if message.metadata.num_pending == 0:
                return values
    finally:
        with contextlib.suppress(nats.errors.Error):
            await subscription.unsubscribe()


# --- the checks -----------------------------------------------------------------------------


@dataclass
class _Order:
    """What the records of one order say happened to it."""

    records: dict[Step, Record] = field(default_factory=dict)

    def _ok(self, step: Step) -> Record | None:
        record = self.records.get(step)
        return record if record is not None and record.ok else None

    def cents(self, step: Step, name: str) -> int:
        record = self._ok(step)
        return int(record.reply.data.get(name, 0)) if record else 0

    def units(self, step: Step, name: str) -> Counter[str]:
        record = self._ok(step)
        return Counter(record.reply.data.get(name) or {}) if record else Counter()

    @property
    def shipped(self) -> bool:
        return self._ok(Step.SHIP) is not None


def check(orders: Iterable[OrderSummary], state: ServiceState, *, now: float | None = None) -> AuditReport:
    now = time.time() if now is None else now
    orders = list(orders)
    report = AuditReport(at=datetime.fromtimestamp(now, UTC), orders=len(orders), records=len(state.records))
    by_order: dict[str, _Order] = defaultdict(_Order)
    for key, record in state.records.items():
        order_id, _, step = key.rpartition(".")
        if step in Step.__members__.values():
            by_order[order_id].records[Step(step)] = record
        if record.unfinished:
            report.discrepancies.append(
                Discrepancy(kind="unsettled", order_id=order_id, message=f"record {key}: {record.reply.message}")
            )
    known = set()
    for summary in orders:
        known.add(summary.order_id)
        if not summary.status.is_terminal:
            report.in_flight += 1
            continue
        report.ended += 1
        report.discrepancies += _check_order(summary, by_order.get(summary.order_id, _Order()))
    ended = {summary.order_id for summary in orders if summary.status.is_terminal}
    for account, value in sorted(state.accounts.items()):
        report.discrepancies += _check_account(account, value, state, ended, now, report.notes)
    unknown = set(by_order) - known
    if unknown:
        report.notes.append(f"{len(unknown)} orders have records but no workflow in Temporal (past its retention?)")
    return report


def _check_order(summary: OrderSummary, order: _Order) -> list[Discrepancy]:
    order_id, status = summary.order_id, summary.status
    charged, refunded = order.cents(Step.CHARGE, "charged_cents"), order.cents(Step.REFUND, "refunded_cents")
    reserved, restocked = order.units(Step.RESERVE, "reserved"), order.units(Step.RESTOCK, "restocked")
    found = []

    def wrong(kind: str, message: str) -> None:
        found.append(Discrepancy(kind=kind, order_id=order_id, message=f"order {order_id} {status.value}: {message}"))

    if status is OrderStatus.COMPLETED:
        if charged != summary.total_cents:
            wrong("money", f"charged {charged} cents, its total is {summary.total_cents}")
        if not reserved:
            wrong("stock", "has no reservation")
        if not order.shipped:
            wrong("effects", "has no shipment")
        if refunded or restocked:
            wrong("effects", f"refunded {refunded} cents and restocked {_units(restocked)}")
    elif status is OrderStatus.COMPENSATED:
        if refunded != charged:
            wrong("money", f"charged {charged} cents but refunded {refunded} (drift {charged - refunded:+d})")
        if restocked != reserved:
            wrong("stock", f"reserved {_units(reserved)} but restocked {_units(restocked)}")
        if order.shipped:
            wrong("effects", "shipped although compensated: goods out, money back; needs an operator")
    elif charged != refunded or reserved != restocked or order.shipped:
        kind = "terminated" if status is OrderStatus.TERMINATED else "effects"
        net = f"{charged - refunded} cents charged and {_units(reserved - restocked) or 'no units'} reserved"
        wrong(
            kind,
            f"ended without compensating, leaving {net}{' and a shipment' if order.shipped else ''}; needs an operator",
        )
    return found


def _check_account(
    account: AccountRef, value: Account, state: ServiceState, ended: set[str], now: float, notes: list[str]
) -> list[Discrepancy]:
    found = []
    expected = Counter(value.opening)
    counted_ops = 0
    for record in state.records.values():
        delta = record.effects.get(str(account)) if record.ok else None
        if delta is not None:
            expected.update(delta)
            counted_ops += 1
    unsettled_ops = 0
    for key, marker in value.markers.items():
        decided = state.records.get(key)
        counted = decided is not None and decided.ok and decided.owners.get(str(account)) == marker.owner
        age = now - marker.at
        if not counted:
            expected.update(marker.delta)
            unsettled_ops += 1
        order_id = key.rpartition(".")[0]
        if decided is not None and age > OVERDUE_SECONDS:
            found.append(
                Discrepancy(
                    kind="unsettled",
                    order_id=order_id,
                    message=f"{account}: the effect of {key} ({_delta(marker.delta)}) is unsettled for {age:.0f} s;"
                    " is a services process running its sweeper?",
                )
            )
        elif decided is None and order_id in ended:
            found.append(
                Discrepancy(
                    kind="effects",
                    order_id=order_id,
                    message=f"{account}: {key} applied {_delta(marker.delta)} and no record decided it, "
                    "though the order has ended",
                )
            )
    unrecorded = value.value("ops") - unsettled_ops - counted_ops  # changes applied that no record accounts for
    expired = unrecorded > 0 and state.records_ttl_seconds and now - value.created > state.records_ttl_seconds
    if expired:
        notes.append(f"{account}: records older than their TTL expired; checked its own totals only")
    else:
        for name in sorted(set(value.counters) | set(expected)):
            have, want = value.value(name), expected.get(name, 0)
            if have != want and name != "ops":
                kind = "money" if account.bucket == "ledger" else "stock"
                found.append(
                    Discrepancy(
                        kind=kind,
                        message=f"{account}: {name} is {have} but its records and unsettled effects add up to {want}"
                        f" (drift {have - want:+d})",
                    )
                )
        if unrecorded:
            found.append(
                Discrepancy(
                    kind="double" if unrecorded > 0 else "records",
                    message=f"{account}: {value.value('ops')} changes applied, {counted_ops + unsettled_ops} recorded"
                    f" ({'an effect applied twice, or a record lost' if unrecorded > 0 else 'a counter reset'})",
                )
            )
    if account.bucket == "stock":
        seeded, counters = value.opening.get("units", 0), value.counters
        identity = seeded + counters.get("adjusted", 0) - counters.get("reserved", 0) + counters.get("restocked", 0)
        if counters.get("units") != identity:
            found.append(
                Discrepancy(
                    kind="stock",
                    message=f"{account}: {counters.get('units')} units, but seeded {seeded} + adjusted - reserved"
                    f" + restocked is {identity}",
                )
            )
    return found


def _units(units: Counter[str] | dict[str, int]) -> str:
    return ", ".join(f"{sku} x{count}" for sku, count in sorted(units.items()) if count) or "nothing"


def _delta(delta: Delta) -> str:
    return ", ".join(f"{name} {value:+d}" for name, value in delta.items() if name != "ops")
