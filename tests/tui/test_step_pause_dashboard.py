"""Pausing a step from the dashboard (the fake facade): the palette and the Faults tab's button,
the table's `⏸ PAUSED  before charge`, the Detail, and resuming."""

from __future__ import annotations

from textual.widgets import Button

from engine.models import OrderInput, OrderStatus, Step, StepStatus
from tests.support.dashboard import fake_settings, started, wait_until
from tests.support.fake_facade import FakeFacade, FakeStack
from tui.app import CheckoutApp
from tui.commands import palette_commands
from tui.widgets.order_detail import OrderDetail


def an_order(order_id: str) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": "alice",
            "items": [{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}],
        }
    )


def run(app: CheckoutApp, title: str) -> None:
    (command,) = [command for command in palette_commands(app) if command.title == title]
    command.callback()


async def test_pause_from_the_palette_holds_orders_before_charge_and_resume_lets_them_finish() -> None:
    settings = fake_settings(saga={"hold_seconds": 0.1})
    facade = FakeFacade(settings, step_seconds=0.01)
    app = CheckoutApp(FakeStack(settings, facade))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        run(app, "Pause charge")
        await wait_until(pilot, lambda: Step.CHARGE in facade.paused, what="charge paused")
        await facade.submit(an_order("held-1"))
        await wait_until(
            pilot, lambda: "held-1" in app.book.orders and app.book.orders["held-1"].paused, what="shown paused"
        )
        table = app.orders_table
        assert table.cell_text("held-1", "status") == "⏸ PAUSED"
        assert table.cell_text("held-1", "step") == "before charge"
        app.show_order("held-1")
        detail = app.query_one(OrderDetail)
        await wait_until(pilot, lambda: detail.saga is not None and detail.saga.paused_before is Step.CHARGE)
        assert "PAUSED before charge" in detail.plain
        assert detail.step_status("charge") is StepStatus.PAUSED
        await wait_until(pilot, lambda: "charge PAUSED" in app.faults_panel.query_one("#paused-steps").render().plain)

        button = app.faults_panel.query_one("#pause-charge", Button)
        await wait_until(pilot, lambda: str(button.label) == "resume charge", what="the button offers resume")
        button.press()
        await wait_until(pilot, lambda: app.book.orders["held-1"].status is OrderStatus.COMPLETED, what="completed")
    assert facade.calls[:1] == ["pause_step charge"]
    assert "resume_step charge 10" in facade.calls
    assert facade.paused == {}


async def test_read_only_offers_no_pause_and_refuses_one() -> None:
    settings = fake_settings()
    facade = FakeFacade(settings, step_seconds=0.01)
    app = CheckoutApp(FakeStack(settings, facade), read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        titles = {command.title for command in palette_commands(app)}
        assert not {"Pause charge", "Resume charge"} & titles
        assert not app.faults_panel.query("#pauses")
        app.action_pause_step("charge")
        await pilot.pause(0.2)
    assert facade.paused == {} and "pause_step charge" not in facade.calls
