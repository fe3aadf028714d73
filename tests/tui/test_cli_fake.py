"""The `checkout` commands over the in-memory facade (connect() replaced): output and exit codes, no servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from engine.config import Settings
from engine.models import Discrepancy, OrderInput, OrderStatus, Step, StepStatus
from tests.support.dashboard import fake_settings
from tests.support.fake_facade import FakeFacade
from tui import cli


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFacade]:
    settings = fake_settings()
    facade = FakeFacade(settings, step_seconds=0.0)

    @asynccontextmanager
    async def connect(_: Settings, **__: object) -> AsyncIterator[FakeFacade]:
        yield facade

    monkeypatch.setattr(cli, "connect", connect)
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    yield facade


def order(order_id: str, customer: str = "alice") -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": customer,
            "items": [{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}],
        }
    )


def test_audit_is_clean_with_exit_0_and_lists_each_discrepancy_with_exit_1(
    fake: FakeFacade, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["audit"]) == 0
    assert "audit clean" in capsys.readouterr().out
    fake.extra_discrepancies = [
        Discrepancy(kind="money", order_id="a1", message="order a1: charged $39.99, refunded $0.00 (COMPENSATED)"),
        Discrepancy(kind="stock", message="golang-book: 97 units, expected 98"),
    ]
    assert cli.main(["audit"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [d.message for d in fake.extra_discrepancies]
    assert lines[2].startswith("2 discrepancies")
    assert lines[3].startswith("note: ")
    assert cli.main(["audit", "--json"]) == 1
    assert len(json.loads(capsys.readouterr().out)["discrepancies"]) == 2


def test_stock_show_set_and_add(fake: FakeFacade, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stock"]) == 0
    assert "golang-book" in capsys.readouterr().out
    assert cli.main(["stock", "set", "golang-book", "7"]) == 0
    assert capsys.readouterr().out.strip() == "golang-book: 7 units (-93)"
    assert cli.main(["stock", "add", "golang-book", "-2"]) == 0
    assert capsys.readouterr().out.strip() == "golang-book: 5 units (-2)"
    assert fake.stock["golang-book"] == 5
    assert cli.main(["stock", "add", "golang-book", "-9"]) == 2
    assert "below 0" in capsys.readouterr().err
    assert cli.main(["stock", "set", "unicorn", "1"]) == 2
    assert cli.main(["stock", "set", "golang-book"]) == 2
    assert "needs a SKU and a number" in capsys.readouterr().err


def test_orders_by_customer_and_since_with_dates(fake: FakeFacade, capsys: pytest.CaptureFixture[str]) -> None:
    async def place() -> None:
        for order_id, customer in (("a1", "alice"), ("b1", "bob"), ("a2", "alice")):
            await fake.submit(order(order_id, customer))
            await fake.result(order_id)

    asyncio.run(place())
    fake.states["a1"].started_at = datetime.now(UTC) - timedelta(days=2)
    assert cli.main(["orders", "--customer", "alice", "--json"]) == 0
    assert [row["order_id"] for row in json.loads(capsys.readouterr().out)] == ["a2", "a1"]
    assert cli.main(["orders", "--customer", "alice", "--since", "1d", "--json"]) == 0
    assert [row["order_id"] for row in json.loads(capsys.readouterr().out)] == ["a2"]
    assert cli.main(["orders"]) == 0
    text = capsys.readouterr().out
    assert datetime.now().strftime("%Y-%m-%d") in text, "dates, not only times of day"
    assert cli.main(["orders", "--since", "yesterday-ish"]) == 2
    assert "--since" in capsys.readouterr().err
    assert fake.states["a2"].status is OrderStatus.COMPLETED


def test_parse_since() -> None:
    now = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert cli.parse_since("30m", now) == now - timedelta(minutes=30)
    assert cli.parse_since("2026-03-01T10:00+00:00", now) == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert cli.parse_since("2026-03-01", now).tzinfo is not None


def test_a_terminated_orders_running_step_reads_as_cut_off(
    fake: FakeFacade, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.settings.saga.hold_seconds = 30

    async def terminate_in_the_hold() -> None:
        await fake.submit(order("cut-1"))
        for _ in range(500):
            hold = fake.states["cut-1"].step(Step.HOLD)
            if hold is not None and hold.status is StepStatus.RUNNING:
                break
            await asyncio.sleep(0.01)
        await fake.terminate("cut-1", "test")

    asyncio.run(terminate_in_the_hold())
    assert cli.main(["show", "cut-1", "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["status"] == "TERMINATED"
    steps = {step["name"]: step for step in state["steps"]}
    assert steps["hold"]["status"] == "CUT_OFF" and steps["hold"]["finished_at"] == state["finished_at"]
    assert steps["charge"]["status"] == "SUCCEEDED"
    assert cli.main(["show", "cut-1"]) == 0
    hold_line = next(line for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["hold"])
    assert "CUT_OFF" in hold_line and "RUNNING" not in hold_line, hold_line
