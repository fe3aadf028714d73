"""What an operator expects beyond the first pass (issue 8): driven through the Pilot over the fake."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input, Select

from engine.models import OrderInput, ServiceName
from tests.support.dashboard import wait_until
from tests.support.fake_facade import FakeStack
from tui.app import CheckoutApp
from tui.screens.bulk_submit import BulkSubmitScreen


def an_order(order_id: str, sku: str = "usb-cable", quantity: int = 1, customer: str = "cust-x") -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": customer,
            "items": [{"sku": sku, "quantity": quantity, "unit_price_cents": 999}],
        }
    )


async def started(pilot: Pilot[int], app: CheckoutApp) -> None:
    await wait_until(pilot, lambda: app.facade is not None and app.status_line.health is not None, what="started")


async def test_the_log_pauses_and_shows_only_the_selected_order(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        log = app.event_log
        await pilot.press("l")
        await fake_stack.facade.submit(an_order("first"))
        await wait_until(pilot, lambda: app.book.is_terminal("first"))
        await pilot.press("p")
        assert log.paused
        await fake_stack.facade.submit(an_order("second"))
        await wait_until(pilot, lambda: app.book.is_terminal("second"))
        await pilot.pause(0.2)
        assert not any("second" in line for line in log.shown), "paused: nothing new is written"
        assert "paused: " in str(log.query_one("#log-state").render())
        await pilot.press("p")
        await pilot.pause(0.2)
        assert any("second" in line for line in log.shown) and log.at_end
        app.show_order("first")
        await wait_until(pilot, lambda: app.selected_order == "first")
        await pilot.press("o")
        assert app.tabs.active == "log"
        assert log.shown and all("first" in line for line in log.shown)
        await pilot.press("o")
        assert any("second" in line for line in log.shown)


async def test_the_bulk_form_remembers_its_last_values(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("b")
        bulk = app.screen
        assert isinstance(bulk, BulkSubmitScreen)
        bulk.query_one("#count", Input).value = "3"
        bulk.query_one("#rate", Input).value = "30"
        bulk.query_one("#sku", Select).value = "python-book"
        await pilot.click("#start")
        await wait_until(pilot, lambda: bulk.done)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, BulkSubmitScreen))
        assert app.notices[-1][2] == "3 orders submitted"
        await pilot.press("b")
        again = app.screen
        assert isinstance(again, BulkSubmitScreen)
        assert again.query_one("#count", Input).value == "3"
        assert again.query_one("#rate", Input).value == "30"
        assert again.query_one("#sku", Select).value == "python-book"


async def test_the_faults_grid_by_keyboard(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("f")
        await pilot.pause(0.1)
        assert app.focused is app.query_one("#inventory-error_rate"), "f puts the keyboard in the grid"
        await pilot.press("down")
        assert app.focused is app.query_one("#restock-error_rate")
        await pilot.press("right")
        assert app.focused is app.query_one("#restock-latency_ms"), "restock cannot be declined: no field"
        assert not app.query("#restock-decline_rate") and not app.query("#refund-decline_rate")
        await pilot.press("down", "down", "down")
        assert app.focused is app.query_one("#shipping-latency_ms")
        await pilot.press(*"5000", "enter")
        await wait_until(pilot, lambda: fake_stack.facade._faults[ServiceName.SHIPPING].latency_ms == 5000)
        warning = app.query_one("#latency-warning")
        assert warning.display and "shipping 5000 ms" in str(warning.render())
        await pilot.press("right", "right")
        assert app.focused is app.query_one("#shipping-down")
        await pilot.press("space")
        await wait_until(pilot, lambda: fake_stack.facade._faults[ServiceName.SHIPPING].down)
