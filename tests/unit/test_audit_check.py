"""The audit's checks on hand-made states: what each discrepancy looks like."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.audit import OVERDUE_SECONDS, ServiceState, check
from engine.models import OrderStatus, OrderSummary, ServiceReply
from engine.services.effects import AccountRef
from engine.services.store import Account, Marker, Record

NOW = 1_800_000_000.0
BOOK = AccountRef("stock", "book")
LEDGER = AccountRef("ledger", "totals")
AT = datetime.fromtimestamp(NOW - 60, UTC)


def ok(**data: object) -> ServiceReply:
    return ServiceReply(ok=True, code="ok", data=data)


def record(reply: ServiceReply, effects: dict[AccountRef, dict[str, int]] | None = None) -> Record:
    effects = effects or {}
    return Record(
        reply=reply,
        effects={str(a): d for a, d in effects.items()},
        owners={str(a): "w1" for a in effects},
        at=AT,
    )


def completed_order_state(order_id: str = "o1") -> ServiceState:
    """One COMPLETED order of 2 books at 1000 cents, its effects counted and settled."""
    book = Account.opened(units=10)
    book.counters.update(units=8, reserved=2, ops=1)
    ledger = Account.opened(charged_cents=0, refunded_cents=0)
    ledger.counters.update(charged_cents=2000, ops=1)
    records = {
        f"{order_id}.reserve": record(ok(reserved={"book": 2}), {BOOK: {"units": -2, "reserved": 2, "ops": 1}}),
        f"{order_id}.charge": record(ok(charged_cents=2000), {LEDGER: {"charged_cents": 2000, "ops": 1}}),
        f"{order_id}.ship": record(ok(shipment_id="s")),
    }
    return ServiceState(records=records, accounts={BOOK: book, LEDGER: ledger})


def summary(status: OrderStatus, order_id: str = "o1", total: int = 2000) -> OrderSummary:
    return OrderSummary(order_id=order_id, status=status, total_cents=total)


def kinds(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.kind for d in report.discrepancies]


def test_a_completed_order_with_its_effects_is_clean() -> None:
    report = check([summary(OrderStatus.COMPLETED)], completed_order_state(), now=NOW)
    assert report.clean and (report.ended, report.records) == (1, 3)


def test_a_charge_that_differs_from_the_total_is_money() -> None:
    report = check([summary(OrderStatus.COMPLETED, total=2500)], completed_order_state(), now=NOW)
    assert kinds(report) == ["money"]
    assert report.discrepancies[0].message == "order o1 COMPLETED: charged 2000 cents, its total is 2500"


def test_a_compensated_order_not_refunded_is_money_drift() -> None:
    state = completed_order_state()
    del state.records["o1.ship"]
    state.records["o1.restock"] = record(ok(restocked={"book": 2}), {BOOK: {"units": 2, "restocked": 2, "ops": 1}})
    state.accounts[BOOK].counters.update(units=10, restocked=2, ops=2)
    report = check([summary(OrderStatus.COMPENSATED)], state, now=NOW)
    assert kinds(report) == ["money"]
    assert "charged 2000 cents but refunded 0 (drift +2000)" in report.discrepancies[0].message


def test_a_ledger_that_differs_from_its_records_names_the_drift() -> None:
    state = completed_order_state()
    state.accounts[LEDGER].counters["charged_cents"] += 50
    report = check([summary(OrderStatus.COMPLETED)], state, now=NOW)
    assert [(d.kind, d.message) for d in report.discrepancies] == [
        (
            "money",
            "ledger/totals: charged_cents is 2050 but its records and unsettled effects add up to 2000 (drift +50)",
        )
    ]


def test_an_effect_applied_twice_is_a_double() -> None:
    state = completed_order_state()
    state.accounts[BOOK].counters.update(units=6, reserved=4, ops=2)
    report = check([summary(OrderStatus.COMPLETED)], state, now=NOW)
    assert "double" in kinds(report) and "stock" in kinds(report)


def test_unsettled_markers_count_while_young_and_are_reported_when_overdue() -> None:
    state = completed_order_state()
    state.accounts[BOOK].counters.update(units=7, reserved=3, ops=2)  # o2 is taking a book right now
    state.accounts[BOOK].markers["o2.reserve"] = Marker(
        owner="w2", delta={"units": -1, "reserved": 1, "ops": 1}, at=NOW
    )
    running = [summary(OrderStatus.COMPLETED), summary(OrderStatus.RUNNING, "o2")]
    assert check(running, state, now=NOW).clean

    ended = [summary(OrderStatus.COMPLETED), summary(OrderStatus.TERMINATED, "o2")]
    report = check(ended, state, now=NOW)
    assert kinds(report) == ["effects"] and "no record decided it" in report.discrepancies[0].message

    state.records["o2.reserve"] = record(ServiceReply(ok=False, code="voided"))  # decided; the sweeper never came
    report = check(running, state, now=NOW + OVERDUE_SECONDS + 1)
    assert kinds(report) == ["unsettled"]


def test_a_terminated_order_with_effects_needs_an_operator() -> None:
    report = check([summary(OrderStatus.TERMINATED)], completed_order_state(), now=NOW)
    assert kinds(report) == ["terminated"]
    assert (
        "2000 cents charged and book x2 reserved and a shipment; needs an operator" in report.discrepancies[0].message
    )


def test_stock_that_breaks_its_own_identity_is_reported() -> None:
    state = completed_order_state()
    state.accounts[BOOK].counters["units"] = 9
    report = check([summary(OrderStatus.COMPLETED)], state, now=NOW)
    assert set(kinds(report)) == {"stock"}
    assert any("seeded 10 + adjusted - reserved + restocked is 8" in d.message for d in report.discrepancies)


def test_expired_records_are_a_note_not_a_discrepancy() -> None:
    state = completed_order_state()
    state.records.clear()
    state.records_ttl_seconds = 3600
    state.accounts[BOOK].created = state.accounts[LEDGER].created = NOW - 7200
    report = check([], state, now=NOW)
    assert report.clean and len(report.notes) == 2
