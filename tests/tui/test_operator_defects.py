"""The defects an operator hit during an incident (issue 17, part 4), in the dashboard: each pinned
by a test that failed before its fix."""

from __future__ import annotations

import asyncio
import importlib.metadata
import re

import pytest
from textual.widgets import Button, Input, Label

from engine.models import OrderInput, OrderStatus, StepEvent
from tests.support.dashboard import fake_settings, started, visible_lines, wait_until
from tests.support.fake_facade import FakeFacade, FakeStack
from tui import cli
from tui.app import CheckoutApp
from tui.screens.bulk_submit import BulkSubmitScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.new_order import NewOrderScreen
from tui.state import Counts
from tui.widgets.numbers import Numbers


class SlowHistory(FakeFacade):
    """Reads an order's step history as JetStream does under load: what was there when asked,
    answered a while later (the live events go on meanwhile)."""

    async def order_events(self, order_id: str) -> list[StepEvent]:
        events = await super().order_events(order_id)
        await asyncio.sleep(0.3)
        return events


def an_order(order_id: str) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": "cust-x",
            "items": [{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}],
        }
    )


def key(event: StepEvent) -> tuple[str, str, int]:
    return (event.step, event.kind.value, event.attempt)


async def test_the_detail_of_an_order_from_the_form_lists_all_its_step_events() -> None:
    settings = fake_settings(saga={"hold_seconds": 0.5})
    facade = SlowHistory(settings, step_seconds=0.05, submit_delay=0.2)  # events flow before the form closes
    app = CheckoutApp(FakeStack(settings, facade))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewOrderScreen), what="the form")
        order_id = app.screen.query_one("#order-id").value  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.book.is_terminal(order_id), what="the order ends")
        assert app.book.orders[order_id].status is OrderStatus.COMPLETED
        history = [key(e) for e in facade.history if e.order_id == order_id]
        await wait_until(pilot, lambda: len(app.detail_view.events) >= len(history), timeout=3, what="all events")
        await pilot.pause(0.5)  # reads still on their way change nothing
        assert [key(e) for e in app.detail_view.events] == history
        assert f"step events ({len(history)}, oldest first)" in app.detail_view.plain


# --- 9: missing basics ----------------------------------------------------------------------------


def test_checkout_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:  # as --help does: argparse says it and leaves
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"checkout {importlib.metadata.version('checkout-ops')}"


async def test_y_copies_the_selected_order_id(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("y")
        assert app.notices[-1][2] == "No order selected: pick one in the table first"
        await fake_stack.facade.submit(an_order("copy-me-1"))
        await wait_until(pilot, lambda: "copy-me-1" in app.book.orders)
        app.show_order("copy-me-1")
        await wait_until(pilot, lambda: app.selected_order == "copy-me-1")
        app.orders_table.focus()
        await pilot.press("y")
        assert app.clipboard == "copy-me-1"
        assert app.notices[-1][2] == "Copied copy-me-1 to the clipboard"


async def test_the_numbers_line_explains_its_icons_and_keeps_failed_at_0(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(100, 30)) as pilot:  # under 130 columns: symbols, not words
        await started(pilot, app)
        counts = app.numbers_bar.query_one("#counts")
        tooltip = str(counts.tooltip)
        for meaning in ("✔ completed", "↩ compensated", "↺ compensating", "✘ failed or terminated"):
            assert meaning in tooltip, tooltip
        app.numbers_bar.show(Numbers(counts=Counts(completed=3)))
        await pilot.pause()
        assert "✘" not in visible_lines(counts)[0], "no failed order yet: no failed count"
        app.numbers_bar.show(Numbers(counts=Counts(completed=3, failed=1)))
        await pilot.pause()
        assert "✘ 1" in visible_lines(counts)[0]
        app.numbers_bar.show(Numbers(counts=Counts(completed=3)))  # the failed one left the table
        await pilot.pause()
        assert "✘ 0" in visible_lines(counts)[0], visible_lines(counts)


async def test_the_new_order_form_asks_for_a_customer_id(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, NewOrderScreen)
        field = form.query_one("#customer", Input)
        assert "customer id" in [str(label.render()) for label in form.query(Label)]
        assert "ASCII" in field.placeholder and "ASCII" in str(field.tooltip)
        field.value = "Zoë"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert "ASCII" in str(form.query_one("#customer-problem", Label).render())


# --- 7: the bulk dialog ----------------------------------------------------------------------------


async def test_the_bulk_dialog_says_closing_stops_and_runs_in_the_background() -> None:
    settings = fake_settings()
    facade = FakeFacade(settings, step_seconds=0.01)
    app = CheckoutApp(FakeStack(settings, facade))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("b")
        bulk = app.screen
        assert isinstance(bulk, BulkSubmitScreen)
        assert "Esc or Stop & close stops submitting" in str(bulk.query_one("#close-hint", Label).render())
        assert str(bulk.query_one("#close", Button).label) == "Stop & close"
        assert bulk.query_one("#background", Button).disabled, "nothing to send to the background yet"
        bulk.query_one("#count", Input).value = "30"
        bulk.query_one("#rate", Input).value = "5"  # 6 s: the numbers line has time to show it
        await pilot.click("#start")
        await wait_until(pilot, lambda: len(bulk.submitted) >= 3)
        bulk.query_one("#background", Button).press()  # a click could land on a toast over it
        await wait_until(pilot, lambda: not isinstance(app.screen, BulkSubmitScreen), what="back to the table")
        counts = app.numbers_bar.query_one("#counts")
        await wait_until(pilot, lambda: "bulk " in visible_lines(counts)[0], what="progress in the numbers line")
        assert re.search(r"bulk \d+/30", visible_lines(counts)[0]), visible_lines(counts)
        submitted = len(bulk.submitted)
        await wait_until(pilot, lambda: len(bulk.submitted) > submitted, what="it goes on submitting")
        await wait_until(pilot, lambda: not bulk.running, timeout=20, what="all submitted")
        await wait_until(pilot, lambda: "bulk " not in visible_lines(counts)[0], what="the progress goes")
        assert len(facade.states) == 30
        message = next(m for _, title, m in reversed(app.notices) if title == "Bulk submit")
        assert message == "30 orders submitted", message


async def test_b_during_a_background_bulk_offers_to_stop_it() -> None:
    settings = fake_settings()
    facade = FakeFacade(settings, step_seconds=0.01)
    app = CheckoutApp(FakeStack(settings, facade))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("b")
        bulk = app.screen
        assert isinstance(bulk, BulkSubmitScreen)
        bulk.query_one("#count", Input).value = "500"
        bulk.query_one("#rate", Input).value = "10"
        await pilot.click("#start")
        await wait_until(pilot, lambda: len(bulk.submitted) >= 2)
        bulk.query_one("#background", Button).press()  # a click could land on a toast over it
        await wait_until(pilot, lambda: not isinstance(app.screen, BulkSubmitScreen))
        await pilot.press("b")
        assert isinstance(app.screen, ConfirmScreen), "not a second bulk beside the first"
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: not bulk.running, what="stopped")
        await wait_until(pilot, lambda: any(t == "Bulk submit" and "stopped" in m for _, t, m in app.notices))
        assert len(facade.states) == len(bulk.submitted) < 500


# --- 6: small terminals -------------------------------------------------------------------------


async def test_at_60x20_bulk_ids_can_be_told_apart_and_40x15_asks_for_more() -> None:
    settings = fake_settings()
    facade = FakeFacade(settings, step_seconds=0.01)
    app = CheckoutApp(FakeStack(settings, facade))
    async with app.run_test(size=(60, 20)) as pilot:
        await started(pilot, app)
        ids = [f"a8a3a8-{index:04d}" for index in range(6)]
        for order_id in ids:
            await facade.submit(an_order(order_id))
        await wait_until(pilot, lambda: all(app.book.is_terminal(order_id) for order_id in ids))
        await pilot.pause(0.2)
        rows = visible_lines(app.orders_table)[1 : 1 + len(ids)]
        shown = [row.split()[0] for row in rows]
        assert len(set(shown)) == len(ids), shown
        newest_first = sorted(ids, reverse=True)
        assert all(cell.endswith(order_id[-4:]) for cell, order_id in zip(shown, newest_first, strict=True)), shown
        too_small = app.query_one("#too-small")
        assert not too_small.display
        await pilot.resize_terminal(40, 15)
        await pilot.pause(0.2)
        assert too_small.display and not app.body.display
        assert "Make the terminal larger" in " ".join(visible_lines(too_small))
        await pilot.resize_terminal(60, 20)
        await pilot.pause(0.2)
        assert not too_small.display and app.body.display
