"""What an operator expects beyond the first pass (issue 8): driven through the Pilot over the fake."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.pilot import Pilot
from textual.widgets import Input, Select

from engine.models import FaultSettings, OrderInput, ServiceName, Step
from tests.support.dashboard import fake_settings, visible_lines, wait_until
from tests.support.fake_facade import FakeFacade, FakeStack
from tui.app import CheckoutApp
from tui.screens.bulk_submit import BulkSubmitScreen
from tui.screens.confirm import ConfirmScreen


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


async def test_the_cancel_dialog_counts_down_and_says_when_the_order_ended() -> None:
    settings = fake_settings(saga={"hold_seconds": 1.5})
    stack = FakeStack(settings, FakeFacade(settings, step_seconds=0.01))
    app = CheckoutApp(stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await stack.facade.submit(an_order("hold-2"))
        await wait_until(pilot, lambda: app.book.orders.get("hold-2") and app.book.orders["hold-2"].step == "hold")
        app.show_order("hold-2")
        await wait_until(pilot, lambda: app.detail_view.saga is not None and app.detail_view.saga.hold_until)
        await pilot.press("c")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        await pilot.pause(0.3)
        assert "Cancellable for" in str(dialog.query_one("#live").render())
        await wait_until(pilot, lambda: app.book.is_terminal("hold-2"), timeout=5)  # the hold ran out, it shipped
        await pilot.pause(0.4)
        assert "has ended: COMPLETED" in str(dialog.query_one("#live").render())
        assert not dialog.possible
        await pilot.press("y")
        assert app.screen is dialog, "no cancel is sent for an ended order"


async def test_a_failed_order_says_why_in_the_table_and_the_detail() -> None:
    settings = fake_settings()
    facade = FakeFacade(settings, step_seconds=0.01)
    why = "invalid order: items.0.quantity: Input should be greater than 0"
    facade.add_failed(an_order("bad-1"), datetime.now(UTC), why)
    app = CheckoutApp(FakeStack(settings, facade))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await wait_until(pilot, lambda: app.orders_table.shown("bad-1"))
        await wait_until(pilot, lambda: app.orders_table.cell_text("bad-1", "step") == why)
        app.show_order("bad-1")
        await wait_until(pilot, lambda: app.detail_view.error is not None)
        assert why in app.detail_view.plain
        assert "workflows/order-bad-1" in app.detail_view.plain, "the Web UI link, also without a saga state"


async def test_attempts_show_the_most_any_step_took(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await fake_stack.facade.submit(an_order("once"))
        await wait_until(pilot, lambda: app.book.is_terminal("once"))
        assert app.orders_table.cell_text("once", "attempts") == "1"
        fake_stack.facade.random.seed(1)
        await fake_stack.facade.set_faults(ServiceName.PAYMENT, FaultSettings(error_rate=0.5))
        for n in range(6):
            await fake_stack.facade.submit(an_order(f"retried-{n}"))
        await wait_until(pilot, lambda: all(app.book.is_terminal(f"retried-{n}") for n in range(6)), timeout=15)
        charged_twice = [
            order_id
            for order_id, state in fake_stack.facade.states.items()
            if (step := state.step(Step.CHARGE)) is not None and step.attempts >= 2
        ]
        assert charged_twice, "some charge was retried"
        for order_id in charged_twice:
            most = max(step.attempts for step in fake_stack.facade.states[order_id].steps)
            assert app.orders_table.cell_text(order_id, "attempts") == str(most)


async def test_filters_say_n_of_m_and_when_nothing_matches(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        for order_id in ("apple-1", "apple-2", "pear-1"):
            await fake_stack.facade.submit(an_order(order_id))
        await wait_until(pilot, lambda: app.book.counts().completed == 3)
        await pilot.pause(0.2)
        count = app.filter_bar.query_one("#count-label")
        assert str(count.render()) == "3 orders"
        await pilot.press("slash", *"apple", "enter")
        await wait_until(pilot, lambda: str(count.render()) == "2 of 3")
        await pilot.press("slash", "ctrl+u", *"kiwi", "enter")
        await wait_until(pilot, lambda: app.orders_table.row_count == 0)
        assert "no matching orders" in visible_lines(app.orders_table)[1]


async def test_side_by_side_from_130_columns_with_both_fitting(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(130, 40)) as pilot:
        await started(pilot, app)
        await fake_stack.facade.submit(an_order("abcdef-0001", customer="customer-0042"))
        await wait_until(pilot, lambda: app.book.is_terminal("abcdef-0001"))
        assert app.body.has_class("-wide")
        table = app.orders_table
        assert table.virtual_size.width <= table.scrollable_content_region.width, "the table fits: no sideways scroll"
        assert table.cell_text("abcdef-0001", "id") in visible_lines(table)[1], "a typical id is whole"
        await pilot.press("f")
        await pilot.pause(0.2)
        down = app.query_one("#shipping-down")
        assert down.region.right <= app.tabs.region.right, "the faults grid fits beside the table"
