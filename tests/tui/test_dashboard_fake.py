"""The dashboard driven through the Pilot over the in-memory facade: fast checks of behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.widgets import Button, Input, Select, Static

from engine.errors import ServerStartError
from engine.models import FaultSettings, OrderInput, OrderStatus, ServiceName, StepStatus
from engine.services.faults import FAULTS_DISABLED
from tests.support.dashboard import fake_settings, started, visible_lines, wait_until
from tests.support.fake_facade import FakeFacade, FakeStack
from tui.app import CheckoutApp
from tui.commands import palette_commands
from tui.screens.bulk_submit import BulkSubmitScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.new_order import NewOrderScreen
from tui.widgets.order_detail import OrderDetail
from tui.widgets.orders_table import OrdersTable
from tui.widgets.status_line import StatusLine


def an_order(order_id: str, sku: str = "usb-cable", quantity: int = 1) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": "cust-x",
            "items": [{"sku": sku, "quantity": quantity, "unit_price_cents": 999}],
        }
    )


def status_of(app: CheckoutApp, order_id: str) -> OrderStatus | None:
    row = app.book.orders.get(order_id)
    return row.status if row else None


def table(app: CheckoutApp) -> OrdersTable:
    return app.query_one(OrdersTable)


def detail(app: CheckoutApp) -> OrderDetail:
    return app.query_one(OrderDetail)


async def test_new_order_form_submits_and_the_order_completes_in_table_and_detail(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test() as pilot:
        await started(pilot, app)
        await pilot.press("n")
        assert isinstance(app.screen, NewOrderScreen)
        form = app.screen
        form.query_one("#quantity", Input).value = "3"
        form.query_one("#sku", Select).value = "python-book"
        order_id = form.query_one("#order-id", Input).value
        await pilot.click("#submit")
        await wait_until(pilot, lambda: not isinstance(app.screen, NewOrderScreen), what="form closed")
        await wait_until(pilot, lambda: status_of(app, order_id) is OrderStatus.COMPLETED, what="completed")
        await wait_until(pilot, lambda: table(app).cell_text(order_id, "status").endswith("COMPLETED"))
        assert table(app).cell_text(order_id, "total") == "$137.97"
        await wait_until(
            pilot, lambda: detail(app).saga is not None and detail(app).saga.status is OrderStatus.COMPLETED
        )
        assert detail(app).order_id == order_id
        assert "ship" in detail(app).plain and "COMPLETED" in detail(app).plain
        assert any(f"Order {order_id} submitted" in message for _, _, message in app.notices)


async def test_invalid_form_input_is_explained_inline_and_nothing_is_submitted(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test() as pilot:
        await started(pilot, app)
        await pilot.press("n")
        form = app.screen
        form.query_one("#customer", Input).value = "bad customer!"
        form.query_one("#quantity", Input).value = "0"
        await pilot.click("#submit")
        await pilot.pause(0.2)
        assert isinstance(app.screen, NewOrderScreen), "the form stays open"
        assert set(form.problems) == {"customer", "quantity"}
        assert "letters, digits" in str(form.query_one("#customer-problem").render())
        assert form.query_one("#quantity").has_class("-invalid")
        form.query_one("#quantity", Input).value = "many"
        await pilot.press("enter")
        assert "whole number" in form.problems["quantity"]
        assert not [call for call in fake_stack.facade.calls if call.startswith("submit")]
        await pilot.press("escape")
        assert not isinstance(app.screen, NewOrderScreen)


async def test_decline_rate_set_in_the_faults_panel_compensates_the_next_order(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, app)
        await pilot.press("f")
        decline = app.query_one("#payment-decline_rate", Input)
        decline.focus()
        await pilot.press("1", "enter")
        await wait_until(pilot, lambda: fake_stack.facade._faults[ServiceName.PAYMENT].decline_rate == 1.0)
        assert any("payment: declines 1" in message for _, _, message in app.notices)
        await fake_stack.facade.submit(an_order("declined-1"))
        await wait_until(pilot, lambda: status_of(app, "declined-1") is OrderStatus.COMPENSATED)
        assert table(app).cell_text("declined-1", "step") == "card_declined"
        app.show_order("declined-1")
        await wait_until(
            pilot, lambda: detail(app).saga is not None and detail(app).saga.status is OrderStatus.COMPENSATED
        )
        assert detail(app).step_status("restock", compensation=True) is StepStatus.SUCCEEDED
        assert detail(app).step_status("charge") is StepStatus.FAILED


async def test_lost_reply_rate_is_set_and_shown_in_the_faults_panel(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, app)
        await pilot.press("f")
        lost = app.query_one("#refund-lost_reply_rate", Input)
        lost.focus()
        await pilot.press("2", "enter")  # not a rate: refused, nothing set
        await pilot.pause(0.1)
        assert fake_stack.facade._faults[ServiceName.REFUND] == FaultSettings()
        assert any(severity == "error" and "lost_reply_rate" in message for severity, _, message in app.notices)
        lost.focus()
        await pilot.press("0", ".", "4", "enter")
        await wait_until(pilot, lambda: fake_stack.facade._faults[ServiceName.REFUND].lost_reply_rate == 0.4)
        assert any("refund: lost replies 0.4" in message for _, _, message in app.notices)
        # Set elsewhere (another operator, the CLI): the panel shows it as in force.
        await fake_stack.facade.set_faults(ServiceName.SHIPPING, FaultSettings(lost_reply_rate=0.25))
        shipping = app.query_one("#shipping-lost_reply_rate", Input)
        await wait_until(pilot, lambda: shipping.value == "0.25" and shipping.has_class("-active"))


async def test_presets_and_reset(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, app)
        await pilot.press("f")
        await pilot.click("#preset-1")  # inventory outage
        await wait_until(pilot, lambda: fake_stack.facade._faults[ServiceName.INVENTORY].down)
        await wait_until(pilot, lambda: app.query_one("#inventory-down").value)
        await wait_until(pilot, lambda: "faults: inventory" in app.status_line.plain)
        await pilot.press("r")
        await wait_until(pilot, lambda: not fake_stack.facade._faults[ServiceName.INVENTORY].down)
        await wait_until(pilot, lambda: not app.query_one("#inventory-down").value)
        await wait_until(pilot, lambda: "faults" not in app.status_line.plain)


async def test_bad_fault_value_is_refused_with_a_notification(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, app)
        await pilot.press("f")
        app.query_one("#payment-error_rate", Input).focus()
        await pilot.press("2", "enter")
        await pilot.pause(0.1)
        assert fake_stack.facade._faults[ServiceName.PAYMENT] == FaultSettings()
        assert any(severity == "error" and "error_rate" in message for severity, _, message in app.notices)


async def test_cancel_during_the_hold_compensates_and_says_accepted() -> None:
    settings = fake_settings(saga={"hold_seconds": 30})
    stack = FakeStack(settings, FakeFacade(settings, step_seconds=0.01))
    app = CheckoutApp(stack)
    async with app.run_test() as pilot:
        await started(pilot, app)
        await stack.facade.submit(an_order("hold-1"))
        await wait_until(pilot, lambda: app.book.orders.get("hold-1") and app.book.orders["hold-1"].step == "hold")
        app.show_order("hold-1")
        await wait_until(pilot, lambda: app.selected_order == "hold-1")
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: status_of(app, "hold-1") is OrderStatus.COMPENSATED)
        assert any("cancel accepted" in message for _, _, message in app.notices)
        await wait_until(pilot, lambda: detail(app).step_status("refund") is StepStatus.SUCCEEDED)
        assert detail(app).step_status("restock") is StepStatus.SUCCEEDED
        assert detail(app).step_status("hold") is StepStatus.CANCELLED
        assert table(app).cell_text("hold-1", "step") == "cancelled"
        await pilot.press("c")  # finished: refused before asking
        assert not isinstance(app.screen, ConfirmScreen)
        assert "has already ended" in app.notices[-1][2]


async def test_terminate_asks_to_type_the_order_id_in_an_unsafe_confirmation_without_shortcut() -> None:
    settings = fake_settings(saga={"hold_seconds": 30})
    stack = FakeStack(settings, FakeFacade(settings, step_seconds=0.01))
    app = CheckoutApp(stack)
    async with app.run_test() as pilot:
        await started(pilot, app)
        await stack.facade.submit(an_order("term-1"))
        await wait_until(pilot, lambda: table(app).shown("term-1"))
        app.show_order("term-1")
        await pilot.press("T")
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen) and confirm.unsafe
        assert "UNSAFE" in str(confirm.query_one("#warning").render())
        assert "Type term-1 to confirm" in str(confirm.query_one("#typed-hint", Static).render())
        typed = confirm.query_one("#typed", Input)
        assert confirm.focused is typed and not confirm.possible
        await pilot.press("y")
        assert app.screen is confirm, "y does not confirm an unsafe action"
        await pilot.click("#confirm")
        assert app.screen is confirm, "the confirm button waits for the order id"
        await pilot.press(*"term-2", "enter")
        assert app.screen is confirm and not confirm.possible, "a wrong id confirms nothing"
        typed.value = ""
        await pilot.press(*"term-1")
        assert confirm.possible
        assert status_of(app, "term-1") is not OrderStatus.TERMINATED
        await pilot.press("enter")
        await wait_until(pilot, lambda: status_of(app, "term-1") is OrderStatus.TERMINATED)
        assert table(app).cell_text("term-1", "status").endswith("TERMINATED")


async def test_bulk_submit_shows_progress_and_ends_with_all_orders_finished(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test() as pilot:
        await started(pilot, app)
        await pilot.press("b")
        bulk = app.screen
        assert isinstance(bulk, BulkSubmitScreen)
        bulk.query_one("#count", Input).value = "12"
        bulk.query_one("#rate", Input).value = "60"
        await pilot.click("#start")
        await wait_until(pilot, lambda: bulk.done, timeout=15, what="all bulk orders finished")
        assert len(bulk.submitted) == 12
        progress = bulk.query_one("#progress-text")
        # The text is redrawn on the dialog's timer: on a busy machine a moment after the last order ends.
        await wait_until(pilot, lambda: "12 finished" in str(progress.render()), timeout=5, what="12 finished")
        assert all(app.book.is_terminal(order_id) for order_id in bulk.submitted)
        await pilot.click("#close")
        assert not isinstance(app.screen, BulkSubmitScreen)


async def test_bulk_submit_can_be_stopped() -> None:
    settings = fake_settings()
    stack = FakeStack(settings, FakeFacade(settings, step_seconds=0.01))
    app = CheckoutApp(stack)
    async with app.run_test() as pilot:
        await started(pilot, app)
        await pilot.press("b")
        bulk = app.screen
        bulk.query_one("#count", Input).value = "500"
        bulk.query_one("#rate", Input).value = "20"
        await pilot.click("#start")
        await wait_until(pilot, lambda: len(bulk.submitted) >= 3)
        await pilot.click("#stop")
        await wait_until(pilot, lambda: not bulk.running)
        count = len(bulk.submitted)
        await pilot.pause(0.3)
        assert len(bulk.submitted) == count < 500
        assert bulk.planned == 500
        assert f"stopped: {count} of 500 submitted" in str(bulk.query_one("#progress-text").render())
        bulk.query_one("#rate", Input).value = "0"
        await pilot.click("#start")
        assert "rate" in str(bulk.query_one("#problem").render())


async def test_orders_started_elsewhere_appear_and_history_is_replayed_after_a_restart() -> None:
    settings = fake_settings()
    facade = FakeFacade(settings, step_seconds=0.01)
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    facade.add_finished(an_order("before-1"), OrderStatus.COMPLETED, earlier)
    facade.add_finished(an_order("before-2"), OrderStatus.COMPENSATED, earlier, reason=None)
    app = CheckoutApp(FakeStack(settings, facade), owns_stack=False)
    async with app.run_test() as pilot:
        await started(pilot, app)
        await wait_until(pilot, lambda: table(app).shown("before-1") and table(app).shown("before-2"))
        assert status_of(app, "before-1") is OrderStatus.COMPLETED
        await facade.submit(an_order("outside-1"))  # as another process would
        await wait_until(pilot, lambda: status_of(app, "outside-1") is OrderStatus.COMPLETED)


async def test_event_bursts_are_coalesced_into_few_redraws() -> None:
    settings = fake_settings(saga={"hold_seconds": 0})
    facade = FakeFacade(settings, step_seconds=0.0)
    app = CheckoutApp(FakeStack(settings, facade))
    async with app.run_test() as pilot:
        await started(pilot, app)
        batches_before = app.metrics.batches
        for index in range(150):
            await facade.submit(an_order(f"burst-{index}"))
        await wait_until(pilot, lambda: app.book.counts().completed == 150, timeout=20)
        events = sum(1 for e in facade.history if e.order_id.startswith("burst-"))
        batches = app.metrics.batches - batches_before
        assert events >= 150 * 8
        assert batches * 10 < events, f"{events} events in {batches} batches"
        assert table(app).row_count == 150


async def test_lost_connections_show_in_the_status_line_and_the_app_recovers(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    facade = fake_stack.facade
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, app)
        facade.unreachable = True
        facade.break_event_streams()
        status = app.query_one(StatusLine)
        await wait_until(pilot, lambda: "NATS down" in status.plain and "Temporal down" in status.plain)
        # Named as what it is, not as the reads over NATS failing because of it.
        await wait_until(pilot, lambda: "NATS not answering; Temporal not answering" in status.plain)
        await pilot.pause(1.5)  # a read of services and faults came back failing meanwhile
        assert "unreachable" not in status.plain, status.plain
        down = [m for s, t, m in app.notices if t == "Down"]
        assert down == ["NATS not answering", "Temporal not answering"], app.notices
        await pilot.press("n")
        assert isinstance(app.screen, NewOrderScreen)
        app.screen.query_one("#customer", Input).value = "cust-2"
        await pilot.click("#submit")
        await wait_until(pilot, lambda: any(s == "error" and "unreachable" in m for s, _, m in app.notices))
        assert isinstance(app.screen, NewOrderScreen), "a failed submit keeps the form open"
        await pilot.press("escape")
        facade.unreachable = False
        await wait_until(pilot, lambda: "down" not in status.plain and "unreachable" not in status.plain, timeout=15)
        back = [m for s, t, m in app.notices if t == "Back"]
        assert back == ["NATS answers again", "Temporal answers again"], app.notices
        await facade.submit(an_order("after-1"))
        await wait_until(pilot, lambda: status_of(app, "after-1") is OrderStatus.COMPLETED, timeout=15)


async def test_failed_start_is_shown_not_raised_and_quit_reports_the_exit_code() -> None:
    settings = fake_settings()
    stack = FakeStack(settings, fail=ServerStartError("port 7233 is taken"))
    app = CheckoutApp(stack)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.start_error is not None)
        assert "port 7233 is taken" in app.status_line.plain
        await pilot.press("n")
        assert not isinstance(app.screen, NewOrderScreen)
        assert "Not connected" in app.notices[-1][2]
        await pilot.press("q")
        await wait_until(pilot, lambda app=app: app.return_code is not None)
    assert app.return_code == ServerStartError.exit_code
    assert stack.stopped


async def test_quit_stops_an_owned_stack_but_not_a_borrowed_one() -> None:
    for owns in (True, False):
        settings = fake_settings()
        stack = FakeStack(settings)
        app = CheckoutApp(stack, owns_stack=owns)
        async with app.run_test() as pilot:
            await started(pilot, app)
            await pilot.press("q")
            await wait_until(pilot, lambda app=app: app.return_code is not None)
        assert stack.stopped is owns
        assert app.return_code == 0


async def test_keys_remap_from_config_and_show_in_help() -> None:
    settings = fake_settings(dashboard={"keymap": {"new_order": "o", "nonsense": "x"}})
    app = CheckoutApp(FakeStack(settings))
    async with app.run_test() as pilot:
        await started(pilot, app)
        assert any("unknown binding ids nonsense" in message for _, _, message in app.notices)
        await pilot.press("n")
        assert not isinstance(app.screen, NewOrderScreen)
        await pilot.press("o")
        assert isinstance(app.screen, NewOrderScreen)
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {description: key for key, description, _, _ in app.screen.keys}
        assert keys["New"] == "o" and keys["Help"] == "?"
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_filter_sort_and_palette_commands(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    facade = fake_stack.facade
    async with app.run_test() as pilot:
        await started(pilot, app)
        for order_id in ("apple-1", "apple-2", "pear-1"):
            await facade.submit(an_order(order_id))
        await wait_until(pilot, lambda: app.book.counts().completed == 3)
        await pilot.press("slash")
        await pilot.press(*"apple", "enter")
        await wait_until(pilot, lambda: table(app).row_count == 2)
        assert not table(app).shown("pear-1")
        assert app.focused is table(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: table(app).row_count == 3)
        await pilot.press("t")  # in flight only
        await wait_until(pilot, lambda: table(app).row_count == 0)
        await pilot.press("escape")
        await pilot.press("s")
        assert table(app).sort_mode.value == "oldest"
        first = table(app).order_at(0)
        assert first == "apple-1"
        titles = [command.title for command in palette_commands(app)]
        for expected in ("New order", "Bulk submit", "Fault preset: flaky payments", "Reset all faults", "Quit"):
            assert expected in titles
        assert any(title.startswith("Cancel order") for title in titles)


async def test_a_silently_dead_event_subscription_is_noticed_and_replaced() -> None:
    settings = fake_settings(dashboard={"reconcile_seconds": 1, "replay_hours": 1})
    facade = FakeFacade(settings, step_seconds=0.01)
    app = CheckoutApp(FakeStack(settings, facade))
    async with app.run_test() as pilot:
        await started(pilot, app)
        await facade.submit(an_order("before-silence"))
        await wait_until(pilot, lambda: status_of(app, "before-silence") is OrderStatus.COMPLETED)
        facade.silence_event_streams()
        await pilot.pause(2.5)
        await facade.submit(an_order("during-silence"))
        # The listing says it finished; the events that were missed are replayed once resubscribed.
        await wait_until(pilot, lambda: status_of(app, "during-silence") is OrderStatus.COMPLETED, timeout=15)
        await wait_until(
            pilot, lambda: any("during-silence" in line and "order" in line for line in app.event_log.tail), timeout=20
        )
        await facade.submit(an_order("after-silence"))
        await wait_until(
            pilot, lambda: app.book.orders.get("after-silence") and app.book.orders["after-silence"].step == "ship"
        )


async def test_command_palette_finds_actions_and_orders(fake_stack: FakeStack) -> None:
    from tui.commands import DashboardCommands

    app = CheckoutApp(fake_stack)
    async with app.run_test() as pilot:
        await started(pilot, app)
        await fake_stack.facade.submit(an_order("palette-7"))
        await wait_until(pilot, lambda: table(app).shown("palette-7"))
        provider = DashboardCommands(app.screen)
        titles = [hit.text async for hit in provider.search("flaky")]
        assert "Fault preset: flaky payments" in titles
        hits = [hit async for hit in provider.search("palette-7")]
        order_hit = next(hit for hit in hits if hit.text == "order palette-7")
        table(app).set_filter(text="nothing matches this")
        assert not table(app).shown("palette-7")
        order_hit.command()
        await wait_until(pilot, lambda: app.selected_order == "palette-7", what="palette selected the order")
        assert table(app).shown("palette-7"), "jumping to an order clears the filter that hid it"
        discovered = [hit.text async for hit in provider.discover()]
        assert "New order" in discovered and "Quit" in discovered


async def test_table_keys_and_clicks_move_the_selection_and_open_the_detail(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    facade = fake_stack.facade
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, app)
        for n in range(40):  # more rows than fit: the cursor must scroll the table
            await facade.submit(an_order(f"row-{n:02d}"))
        await wait_until(pilot, lambda: table(app).row_count == 40 and app.book.counts().completed == 40)
        await pilot.press("home")
        assert app.selected_order == table(app).order_at(0) == "row-39"  # newest first
        await pilot.press("down", "down")
        assert app.selected_order == "row-37"
        await pilot.press("end")
        assert app.selected_order == "row-00"
        assert table(app).scroll_offset.y > 0, "the last row was scrolled into view"
        await pilot.press("pageup")
        assert app.selected_order not in ("row-00", None)

        await pilot.press("f")
        assert app.query_one("TabbedContent").active == "faults"
        await pilot.press("escape")  # out of the faults grid, back to the table
        await pilot.press("home", "enter")
        assert app.query_one("TabbedContent").active == "detail"

        await pilot.click(OrdersTable, offset=(3, 3))  # header, then rows 0 and 1: row 1 of the view
        assert app.selected_order == table(app).order_at(table(app).scroll_offset.y + 2)


async def test_later_listings_read_only_the_orders_that_ran_or_closed_since_the_last() -> None:
    settings = fake_settings(dashboard={"reconcile_seconds": 1})
    facade = FakeFacade(settings)
    app = CheckoutApp(FakeStack(settings, facade))
    async with app.run_test() as pilot:
        await started(pilot, app)
        await wait_until(pilot, lambda: len(facade.listings) >= 3, timeout=10)
        first, *later = facade.listings
        assert first is None, "the first listing reads the newest max_rows orders"
        now = datetime.now(UTC)
        for changed_since in later:
            # Back past the previous listing by the feed's slack and grace (7 s), no further.
            assert changed_since is not None and now - timedelta(seconds=12) < changed_since < now - timedelta(
                seconds=6
            )


async def test_worker_processes_start_after_the_first_full_screen_and_only_for_the_owner() -> None:
    settings = fake_settings()
    owned = FakeStack(settings, FakeFacade(settings, list_delay=1.0))  # catching up for a second
    app = CheckoutApp(owned)
    async with app.run_test() as pilot:
        await started(pilot, app)
        assert app.feed.catching_up and not owned.helpers_started
        await wait_until(pilot, lambda: owned.helpers_started, timeout=10)
        assert not app.feed.catching_up
    attached = FakeStack(settings)
    app = CheckoutApp(attached, owns_stack=False)
    async with app.run_test() as pilot:
        await started(pilot, app)
        await wait_until(pilot, lambda: not app.feed.catching_up)
        await pilot.pause(0.3)
        assert not attached.helpers_started, "a stack the dashboard does not own starts its own processes"


async def test_the_faults_tab_says_in_one_line_when_the_cluster_does_not_allow_fault_injection(
    fake_stack: FakeStack,
) -> None:
    fake_stack.facade.faults_enabled = False
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, app)
        await pilot.press("f")
        line = app.query_one("#faults-disallowed")
        await wait_until(pilot, lambda: line.display, what="the disallowed line")
        assert visible_lines(line)[0].strip() == FAULTS_DISABLED
        assert app.query_one("#payment-error_rate", Input).is_disabled
        assert app.query_one("#reset-faults", Button).is_disabled
        assert FAULTS_DISABLED not in app.status_line.plain  # how the cluster is set up, not a problem
        await pilot.press("r")  # the reset key: refused in one line, nothing sent
        await wait_until(pilot, lambda: any(message == FAULTS_DISABLED for _, _, message in app.notices))
        assert "clear_faults" not in fake_stack.facade.calls

        fake_stack.facade.faults_enabled = True  # a worker that allows it answers now
        await wait_until(pilot, lambda: not line.display, what="the line gone")
        assert not app.query_one("#payment-error_rate", Input).is_disabled
