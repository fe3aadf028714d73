"""What an operator expects beyond the first pass (issue 8): driven through the Pilot over the fake."""

from __future__ import annotations

import json
import re
import webbrowser
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static

from engine.models import FaultSettings, OrderInput, ServiceName, Step
from tests.support.dashboard import fake_settings, started, visible_lines, wait_until
from tests.support.fake_facade import FakeFacade, FakeStack
from tui.app import CheckoutApp
from tui.export import export_orders
from tui.screens.bulk_submit import BulkSubmitScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.export import ExportScreen
from tui.screens.stock import StockScreen
from tui.state import SortMode
from tui.widgets.orders_table import OrdersTable


def an_order(order_id: str, sku: str = "usb-cable", quantity: int = 1, customer: str = "cust-x") -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": customer,
            "items": [{"sku": sku, "quantity": quantity, "unit_price_cents": 999}],
        }
    )


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
        assert app.focused is app.query_one("#shipping-lost_reply_rate")
        await pilot.press("right")
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


async def test_open_in_the_web_ui_or_copy_the_link(fake_stack: FakeStack, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await fake_stack.facade.submit(an_order("web-1"))
        await wait_until(pilot, lambda: app.orders_table.shown("web-1"))
        app.show_order("web-1")
        await wait_until(pilot, lambda: app.selected_order == "web-1")
        monkeypatch.setenv("DISPLAY", ":0")
        await pilot.press("w")
        assert opened == ["http://127.0.0.1:8233/namespaces/default/workflows/order-web-1"]
        monkeypatch.delenv("DISPLAY")
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        monkeypatch.delenv("BROWSER", raising=False)
        await pilot.press("w")
        assert len(opened) == 1, "no graphical browser: nothing is opened in the terminal"
        assert app.clipboard == opened[0]
        assert "Copied to the clipboard" in app.notices[-1][2]


async def test_export_the_orders_shown(fake_stack: FakeStack, tmp_path: Path) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        for order_id in ("exp-1", "exp-2", "other-1"):
            await fake_stack.facade.submit(an_order(order_id))
        await wait_until(pilot, lambda: app.book.counts().completed == 3)
        await pilot.press("slash", *"exp", "enter")
        await wait_until(pilot, lambda: app.orders_table.row_count == 2)
        await pilot.press("e")
        form = app.screen
        assert isinstance(form, ExportScreen)
        form.query_one("#path", Input).value = str(tmp_path / "orders.txt")
        await pilot.press("enter")
        assert isinstance(app.screen, ExportScreen) and "csv or .json" in str(form.query_one("#path-problem").render())
        form.query_one("#path", Input).value = str(tmp_path / "no-such-dir" / "orders.csv")
        await pilot.press("enter")
        assert isinstance(app.screen, ExportScreen), "a path that cannot be written is explained in the form"
        form.query_one("#path", Input).value = str(tmp_path / "orders.json")
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, ExportScreen))
        exported = json.loads((tmp_path / "orders.json").read_text())
        assert sorted(row["order_id"] for row in exported) == ["exp-1", "exp-2"]
        assert exported[0]["status"] == "COMPLETED" and exported[0]["total_cents"] == 999
        assert export_orders([app.book.orders["exp-1"]], tmp_path / "one.csv") == 1
        assert (tmp_path / "one.csv").read_text().splitlines()[0].startswith("order_id,customer_id,total_cents")


async def test_stock_set_and_add_from_the_services_tab(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await wait_until(pilot, lambda: app.services_panel.snapshot is not None)
        await pilot.press("v")
        await pilot.click("#change-stock")
        form = app.screen
        assert isinstance(form, StockScreen)
        form.query_one("#sku", Select).value = "golang-book"
        form.query_one("#mode", Select).value = "set"
        form.query_one("#units", Input).value = "-4"
        await pilot.press("enter")
        assert "0 or more" in form.problem and not [c for c in fake_stack.facade.calls if c.startswith("stock")]
        form.query_one("#units", Input).value = "0"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, StockScreen))
        assert fake_stack.facade.stock["golang-book"] == 0
        await wait_until(
            pilot, lambda: app.services_panel.snapshot and app.services_panel.snapshot.stock["golang-book"] == 0
        )
        await pilot.press("k")
        form = app.screen
        assert isinstance(form, StockScreen)
        form.query_one("#sku", Select).value = "golang-book"
        form.query_one("#units", Input).value = "-1"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "below 0" in form.problem, what="the facade's refusal in the form")
        form.query_one("#units", Input).value = "25"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, StockScreen))
        assert fake_stack.facade.stock["golang-book"] == 25
        assert app.notices[-1][2] == "golang-book: 25 units (+25)"


async def test_the_audit_verdict_shows_what_a_terminate_left_behind() -> None:
    settings = fake_settings(saga={"hold_seconds": 30})
    stack = FakeStack(settings, FakeFacade(settings, step_seconds=0.01))
    app = CheckoutApp(stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("a")
        await wait_until(pilot, lambda: app.services_panel.audit is not None)
        assert "clean" in str(app.query_one("#audit-verdict").render())
        await stack.facade.submit(an_order("left-1"))
        await wait_until(pilot, lambda: app.book.orders.get("left-1") and app.book.orders["left-1"].step == "hold")
        await stack.facade.terminate("left-1", "test")
        app.action_run_audit()
        await wait_until(pilot, lambda: app.services_panel.audit is not None and not app.services_panel.audit.clean)
        verdict = str(app.query_one("#audit-verdict").render())
        assert "1 discrepancies" in verdict and "left-1" in verdict
        assert any(severity == "error" and "left-1" in message for severity, _, message in app.notices)


async def test_retry_a_compensated_order_as_a_linked_new_order() -> None:
    settings = fake_settings(saga={"hold_seconds": 30})
    stack = FakeStack(settings, FakeFacade(settings, step_seconds=0.01))
    app = CheckoutApp(stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await stack.facade.submit(an_order("again", sku="python-book", quantity=2))
        await wait_until(pilot, lambda: app.book.orders.get("again") and app.book.orders["again"].step == "hold")
        app.show_order("again")
        await wait_until(pilot, lambda: app.selected_order == "again")
        await pilot.press("R")
        assert "can be retried" in app.notices[-1][2], "a running order is not retried"
        await stack.facade.cancel("again")
        await wait_until(pilot, lambda: app.book.is_terminal("again"))
        await pilot.press("R")
        await wait_until(pilot, lambda: "again-r1" in stack.facade.states)
        assert stack.facade.states["again-r1"].order.items == stack.facade.states["again"].order.items
        await wait_until(pilot, lambda: app.selected_order == "again-r1")
        await wait_until(pilot, lambda: "retry of again" in app.detail_view.plain)
        app.show_order("again")
        await wait_until(pilot, lambda: "retried as again-r1" in app.detail_view.plain)


async def test_cancel_every_order_the_filter_shows_after_saying_how_many() -> None:
    settings = fake_settings(saga={"hold_seconds": 30})
    stack = FakeStack(settings, FakeFacade(settings, step_seconds=0.01))
    app = CheckoutApp(stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        for order_id in ("mass-1", "mass-2", "mass-3", "keep-1"):
            await stack.facade.submit(an_order(order_id))
        await wait_until(
            pilot,
            lambda: all(
                app.book.orders.get(o) and app.book.orders[o].step == "hold"
                for o in ("mass-1", "mass-2", "mass-3", "keep-1")
            ),
        )
        await pilot.press("slash", *"mass", "enter")
        await wait_until(pilot, lambda: app.orders_table.row_count == 3)
        await pilot.press("C")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen) and dialog.title_text == "Cancel the orders the filter shows?"
        assert "3 orders in flight match now" in str(dialog.query_one("#live", Static).render())
        assert dialog.expected is None, "up to 10 orders: y confirms, nothing to type"
        await pilot.press("y")
        await wait_until(pilot, lambda: all(app.book.is_terminal(f"mass-{n}") for n in (1, 2, 3)))
        assert not app.book.is_terminal("keep-1")
        await wait_until(pilot, lambda: "3 cancels: 3 accepted, 0 refused" in app.notices[-1][2])


async def test_the_detail_has_step_times_and_the_order_s_events(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(160, 50)) as pilot:
        await started(pilot, app)
        await fake_stack.facade.submit(an_order("timed-1"))
        await wait_until(pilot, lambda: app.book.is_terminal("timed-1"))
        app.show_order("timed-1")
        await wait_until(pilot, lambda: app.detail_view.saga is not None and app.detail_view.events)
        plain = app.detail_view.plain
        assert "started" in plain and "finished" in plain
        reserve = next(line for line in plain.splitlines() if line.strip().startswith("reserve"))
        assert len(re.findall(r"\d\d:\d\d:\d\d", reserve)) == 2, reserve
        assert "step events" in plain and "timed-1      order    succeeded" in plain


async def test_a_click_on_a_column_header_sorts_by_it(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        for order_id, customer in (("s-1", "carol"), ("s-2", "alice"), ("s-3", "bob")):
            await fake_stack.facade.submit(an_order(order_id, customer=customer))
        await wait_until(pilot, lambda: app.book.counts().completed == 3)
        header = visible_lines(app.orders_table)[0]
        await pilot.click(OrdersTable, offset=(header.index("customer") + 1, 0))
        assert app.orders_table.sort_mode is SortMode.CUSTOMER
        assert [app.orders_table.order_at(n) for n in range(3)] == ["s-2", "s-3", "s-1"]
        header = visible_lines(app.orders_table)[0]
        assert "↑" in header[header.index("cust") : header.index("total")], header
        assert "sort: customer" in str(app.filter_bar.query_one("#sort-label").render())
        await pilot.click(OrdersTable, offset=(visible_lines(app.orders_table)[0].index("age") + 1, 0))
        assert app.orders_table.sort_mode is SortMode.NEWEST


async def test_the_charts_tab_draws_orders_and_error_rates(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    app.history.bucket_seconds = 1
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("g")
        # The history counts from its first tick on: a bucket closed means the orders below are all counted.
        await wait_until(pilot, lambda: len(app.history.bucket_times) > 0, timeout=15, what="a first bucket")
        await fake_stack.facade.set_faults(ServiceName.PAYMENT, FaultSettings(error_rate=0.5))
        for n in range(5):
            await fake_stack.facade.submit(an_order(f"chart-{n}"))
        await wait_until(pilot, lambda: app.book.counts().completed == 5, timeout=15)
        await wait_until(pilot, lambda: sum(app.history.finished["completed"]) == 5, timeout=15)
        await wait_until(pilot, lambda: any(any(s) for s in app.history.error_rate.values()), timeout=15)
        await pilot.pause(1.1)
        charts = app.charts_panel
        assert charts.has_class("-side"), "120 columns: the two plots side by side"
        orders = visible_lines(charts.orders_plot)
        errors = visible_lines(charts.errors_plot)
        assert "Orders finished per 1 s, and in flight" in orders[0], "the title, whole"
        assert "Errors per request, each endpoint (%)" in errors[0]
        for plot in (orders, errors):
            assert re.search(r"\btime\b", plot[-1]) and "now" in plot[-2], "the x axis: labelled, time labels"
            assert re.search(r"^\s*[0-9.]+┤", "\n".join(plot), re.M), "a scale on the y axis"
            assert any(dot in "".join(plot) for dot in "⠁⠂⠄⡀⢀⠠⠐⠈⣀⠤"), "the lines are drawn"
        assert "orders" in orders[-1] and "% errors" in errors[-1], "the y axes are labelled"
        legend = " ".join(visible_lines(charts.orders_legend))
        for name in ("completed", "compensated", "failed", "in flight"):
            assert f"● {name}" in legend, legend
        assert "● payment" in " ".join(visible_lines(charts.errors_legend))
