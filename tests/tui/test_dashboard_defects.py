"""The defects an operator met in the dashboard's first pass (issue 8), each pinned by a test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from textual.widgets import Input
from textual.widgets._toast import Toast

from engine.models import (
    ORDER_STEP,
    EventKind,
    FaultSettings,
    OrderInput,
    OrderStatus,
    ServiceName,
    StepEvent,
    StepStatus,
)
from tests.support.dashboard import fake_settings, started, visible_lines, wait_until
from tests.support.fake_facade import FakeFacade, FakeStack
from tui.app import CheckoutApp
from tui.screens.bulk_submit import BulkSubmitScreen
from tui.screens.confirm import ConfirmScreen
from tui.state import StatusFilter


def an_order(order_id: str, sku: str = "usb-cable", quantity: int = 1) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": "cust-x",
            "items": [{"sku": sku, "quantity": quantity, "unit_price_cents": 999}],
        }
    )


async def test_resizing_lays_out_for_the_new_size_not_the_previous_one(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(250, 40)) as pilot:
        await started(pilot, app)
        assert app.body.has_class("-wide")
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.1)
        assert not app.body.has_class("-wide"), "80 columns: the tabs go below the table"
        await pilot.resize_terminal(200, 40)
        await pilot.pause(0.1)
        assert app.body.has_class("-wide")
        await pilot.resize_terminal(100, 40)
        await pilot.pause(0.1)
        assert not app.body.has_class("-wide")


async def test_terminate_shows_in_table_detail_and_log() -> None:
    settings = fake_settings(saga={"hold_seconds": 30})
    stack = FakeStack(settings, FakeFacade(settings, step_seconds=0.01))
    app = CheckoutApp(stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await stack.facade.submit(an_order("term-2"))
        await wait_until(pilot, lambda: app.book.orders.get("term-2") and app.book.orders["term-2"].step == "hold")
        app.show_order("term-2")
        await wait_until(pilot, lambda: app.selected_order == "term-2")
        await pilot.press("T", *"term-2")
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: app.book.orders["term-2"].status is OrderStatus.TERMINATED)
        await wait_until(pilot, lambda: app.detail_view.saga and app.detail_view.saga.status is OrderStatus.TERMINATED)
        status_line = app.detail_view.plain.splitlines()[2]
        assert "TERMINATED" in status_line and "age" not in status_line, status_line
        assert "cut off" in app.detail_view.plain, "the hold it was in shows as cut off, not running"
        assert any("term-2" in line and "terminated" in line for line in app.event_log.tail)


async def test_cancel_and_terminate_on_an_ended_order_say_at_once_that_it_ended(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await fake_stack.facade.submit(an_order("done-1"))
        await wait_until(pilot, lambda: app.book.is_terminal("done-1"))
        app.show_order("done-1")
        await wait_until(pilot, lambda: app.selected_order == "done-1")
        for key in ("c", "T"):
            await pilot.press(key)
            assert not isinstance(app.screen, ConfirmScreen), f"{key}: no dialog for an ended order"
            assert app.notices[-1][2] == "Order done-1 has already ended: COMPLETED"


async def test_terminate_answered_with_already_ended_says_so(fake_stack: FakeStack) -> None:
    settings = fake_settings(saga={"hold_seconds": 30})
    stack = FakeStack(settings, FakeFacade(settings, step_seconds=0.01))
    app = CheckoutApp(stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await stack.facade.submit(an_order("race-1"))
        await wait_until(pilot, lambda: app.book.orders.get("race-1") and app.book.orders["race-1"].step == "hold")
        app.show_order("race-1")
        await wait_until(pilot, lambda: app.selected_order == "race-1")
        await pilot.press("T", *"race-1")
        await stack.facade.terminate("race-1", "from elsewhere while the dialog is open")
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: any("already ended" in message for _, _, message in app.notices))
        assert not any("No such order" in title for _, title, _ in app.notices)


async def test_the_log_follows_the_tail_after_it_was_hidden_and_resized(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("l")
        for n in range(6):
            await fake_stack.facade.submit(an_order(f"seen-{n}"))
        await wait_until(pilot, lambda: app.book.counts().completed == 6)
        await pilot.pause(0.2)
        log = app.event_log
        assert log.at_end
        await pilot.press("d")
        await pilot.resize_terminal(80, 24)  # the log gets shorter while hidden
        for n in range(6):
            await fake_stack.facade.submit(an_order(f"unseen-{n}"))
        await wait_until(pilot, lambda: app.book.counts().completed == 12)
        await pilot.pause(0.2)
        await pilot.press("l")
        await pilot.pause(0.3)
        assert log.at_end, "back on the log, it shows the newest lines"
        assert "unseen-5" in log.tail[-1]
        for n in range(3):
            await fake_stack.facade.submit(an_order(f"shown-{n}"))
        await wait_until(pilot, lambda: app.book.counts().completed == 15)
        await pilot.pause(0.3)
        assert log.at_end and "shown-2" in log.tail[-1], "and goes on following"


def saga_events(
    order_id: str, status: OrderStatus, *, customer: str = "customer-0012", total: int = 129000
) -> StepEvent:
    return StepEvent(
        order_id=order_id,
        step="refund" if status is OrderStatus.COMPENSATING else ORDER_STEP,
        kind=EventKind.COMPENSATING if status is OrderStatus.COMPENSATING else EventKind.STARTED,
        attempt=3,
        time=datetime.now(UTC),
        status=status,
        customer_id=customer,
        total_cents=total,
    )


async def test_values_are_not_cut_off_at_80_and_120_columns(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    await fake_stack.facade.set_faults(ServiceName.PAYMENT, FaultSettings(error_rate=0.5))
    await fake_stack.facade.set_faults(ServiceName.SHIPPING, FaultSettings(latency_ms=500))
    await fake_stack.facade.set_faults(ServiceName.INVENTORY, FaultSettings(down=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        statuses = [OrderStatus.RUNNING] * 12 + [OrderStatus.COMPENSATING] * 3 + [OrderStatus.COMPLETED] * 1234
        statuses += [OrderStatus.COMPENSATED] * 56 + [OrderStatus.FAILED] * 7
        for n, status in enumerate(statuses):
            app.feed.add(saga_events(f"a1b2c3-{n:04d}", status))
        await wait_until(pilot, lambda: app.book.counts().completed == 1234)
        await wait_until(pilot, lambda: "faults" in app.status_line.plain)
        await wait_until(pilot, lambda: not app.numbers_bar.catching_up)
        await pilot.pause(0.3)
        counts = visible_lines(app.numbers_bar.query_one("#counts"))[0]
        for shown in ("12", "1234", "56", "↺ 3", "✘ 7"):
            assert shown in counts, (shown, counts)
        table = app.orders_table
        assert table.virtual_size.width <= table.scrollable_content_region.width, "no horizontal scrollbar at 80"
        assert "age" in visible_lines(table)[0].split()
        assert "http://127.0.0.1:8233" in visible_lines(app.status_line)[0], "the Web UI address stays"

        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.3)
        app.set_status_filter(StatusFilter.COMPENSATING)
        await pilot.pause(0.3)
        assert "↺ COMPENSATING " in visible_lines(table)[1]


async def test_ctrl_c_says_how_to_quit_without_raw_markup(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await started(pilot, app)
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: list(app.screen.query(Toast)), what="a toast")
        shown = " ".join(" ".join(visible_lines(toast)) for toast in app.screen.query(Toast))
        assert "to quit" in shown
        assert "[b]" not in shown and "[/b]" not in shown, shown
        assert "[b]" not in app.notices[-1][2]


async def test_bulk_submit_stopped_counts_every_order_it_started() -> None:
    settings = fake_settings()
    facade = FakeFacade(settings, step_seconds=0.01, submit_delay=0.3)  # the order exists before the reply
    app = CheckoutApp(FakeStack(settings, facade))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("b")
        bulk = app.screen
        assert isinstance(bulk, BulkSubmitScreen)
        bulk.query_one("#count", Input).value = "100"
        bulk.query_one("#rate", Input).value = "20"
        await pilot.click("#start")
        await wait_until(pilot, lambda: len(bulk.submitted) >= 5)
        await pilot.click("#stop")
        await wait_until(pilot, lambda: not bulk.running)
        await pilot.pause(0.3)
        assert f"stopped: {len(bulk.submitted)} of 100 submitted" in str(bulk.query_one("#progress-text").render())
        assert len(bulk.submitted) == len(facade.states), "every order that exists was counted"
        first_run = len(facade.states)
        await pilot.click("#start")  # again: a second run of 100
        await wait_until(pilot, lambda: len(bulk.submitted) >= first_run + 3)
        await pilot.press("escape")  # stops and closes in the middle of the run
        await wait_until(pilot, lambda: not isinstance(app.screen, BulkSubmitScreen), what="closed")
        await pilot.pause(0.5)
        message = next(m for _, title, m in reversed(app.notices) if title == "Bulk submit")
        assert message == f"Bulk submit stopped: {len(facade.states)} of 200 orders submitted", message


async def test_after_a_restart_the_numbers_say_catching_up_instead_of_being_wrong() -> None:
    settings = fake_settings()
    facade = FakeFacade(settings, step_seconds=0.01, replay_delay=0.004, list_delay=0.4)
    earlier = datetime.now(UTC) - timedelta(minutes=9)
    for n in range(40):
        facade.add_finished(an_order(f"old-{n:02d}"), OrderStatus.COMPLETED, earlier + timedelta(seconds=n))
    app = CheckoutApp(FakeStack(settings, facade), owns_stack=False)
    seen: set[str] = set()
    async with app.run_test(size=(120, 40)) as pilot:
        counts = app.numbers_bar.query_one("#counts")
        for _ in range(100):
            await pilot.pause(0.03)
            seen.add(visible_lines(counts)[0].strip())
            if app.book.counts().completed == 40 and not app.feed.catching_up:
                break
        await pilot.pause(0.2)
        final = visible_lines(counts)[0]
    wrong = [line for line in seen if re.match(r"in flight [1-9]", line)]
    assert not wrong, f"numbers shown while catching up: {wrong}"
    assert any("catching up" in line for line in seen)
    assert final.startswith("in flight 0  ✔ 40"), final


async def test_the_detail_changes_with_the_table_not_after_the_next_query() -> None:
    settings = fake_settings(saga={"hold_seconds": 30})
    facade = FakeFacade(settings, step_seconds=0.01, state_delay=1.5)  # a busy worker answers queries late
    app = CheckoutApp(FakeStack(settings, facade))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await facade.submit(an_order("live-1"))
        await wait_until(pilot, lambda: app.book.orders.get("live-1") and app.book.orders["live-1"].step == "hold")
        app.show_order("live-1")
        await wait_until(pilot, lambda: app.detail_view.saga is not None, timeout=5)
        assert (await facade.cancel("live-1")).accepted
        await wait_until(pilot, lambda: app.book.orders["live-1"].status is OrderStatus.COMPENSATED)
        await pilot.pause(0.15)  # one batch: the table has it, so must the detail
        saga = app.detail_view.saga
        assert saga is not None and saga.status is OrderStatus.COMPENSATED
        assert app.detail_view.step_status("refund") is StepStatus.SUCCEEDED
        assert app.detail_view.step_status("hold") is StepStatus.CANCELLED


async def test_age_goes_on_counting_after_an_order_ended() -> None:
    now = [datetime.now(UTC)]
    settings = fake_settings(saga={"hold_seconds": 0})
    facade = FakeFacade(settings, step_seconds=0.01)
    app = CheckoutApp(FakeStack(settings, facade), clock=lambda: now[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await facade.submit(an_order("aged-1"))
        await wait_until(pilot, lambda: app.book.is_terminal("aged-1"))
        now[0] = datetime.now(UTC) + timedelta(minutes=7, seconds=5)
        await pilot.pause(1.2)  # a tick
        assert app.orders_table.cell_text("aged-1", "age").startswith("7m"), app.orders_table.cell_text("aged-1", "age")


async def test_a_refused_fault_value_does_not_stay_in_the_field(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("f")
        field = app.query_one("#payment-error_rate", Input)
        field.focus()
        await pilot.press("2", "enter")
        await pilot.pause(0.2)
        assert any(severity == "error" and "error_rate" in message for severity, _, message in app.notices)
        assert field.value == "0", "the value in force is shown again"
        assert fake_stack.facade.calls == [] or "set_faults payment" not in fake_stack.facade.calls
