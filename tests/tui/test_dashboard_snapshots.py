"""Snapshots of the main screen, the detail and the forms, on a frozen fake with a fixed clock.

Behaviour is checked by the Pilot tests; these catch layout regressions at 80x24 and wide.
Update with `pytest tests/tui --snapshot-update` after an intended change, and look at the SVGs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from engine.models import FaultSettings, OrderInput, OrderStatus, Reason, ServiceName
from tests.support.dashboard import fake_settings, wait_until
from tests.support.fake_facade import FakeFacade, FakeStack
from tui.app import CheckoutApp

NOW = datetime(2026, 3, 2, 14, 30, 0, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("steady_cursors")


@pytest.fixture(autouse=True)
def utc_times() -> Iterator[None]:
    """Event times are shown in local time: make local time UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def order(order_id: str, customer: str, sku: str, quantity: int, price: int) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": customer,
            "items": [{"sku": sku, "quantity": quantity, "unit_price_cents": price}],
        }
    )


def frozen_app(**settings: object) -> CheckoutApp:
    values = {"saga": {"hold_seconds": 10}, **settings}
    config = fake_settings(**values)
    facade = FakeFacade(config, clock=lambda: NOW)
    facade.add_finished(
        order("a1b2c3d4", "cust-1", "golang-book", 2, 3999), OrderStatus.COMPLETED, NOW - timedelta(seconds=50)
    )
    facade.add_finished(
        order("e5f6a7b8", "cust-2", "python-book", 1, 4599),
        OrderStatus.COMPENSATED,
        NOW - timedelta(seconds=30),
        reason=Reason.CARD_DECLINED,
    )
    facade.add_finished(
        order("c9d0e1f2", "cust-3", "usb-cable", 3, 999), OrderStatus.RUNNING, NOW - timedelta(seconds=4)
    )
    facade.stock = {"golang-book": 98, "python-book": 100, "mechanical-keyboard": 25, "usb-cable": 497}
    facade.requests.update(
        {ServiceName.INVENTORY: 3, ServiceName.PAYMENT: 3, ServiceName.RESTOCK: 1, ServiceName.SHIPPING: 1}
    )
    facade.declines.update({ServiceName.PAYMENT: 1})
    facade._faults[ServiceName.PAYMENT] = FaultSettings(decline_rate=1.0)
    return CheckoutApp(FakeStack(config, facade), clock=lambda: NOW)


async def loaded(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, CheckoutApp)
    await wait_until(pilot, lambda: app.orders_table.row_count == 3 and app.status_line.health is not None)
    await wait_until(pilot, lambda: app.detail_view.saga is not None)
    await wait_until(pilot, lambda: app.faults_panel.current)
    await wait_until(pilot, lambda: not app.numbers_bar.catching_up, what="caught up")
    await pilot.pause(0.2)


def test_main_screen_at_80x24(snap_compare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=loaded)


def test_compensated_order_detail_at_80x24(snap_compare) -> None:
    async def select_compensated(pilot: Pilot) -> None:
        await loaded(pilot)
        pilot.app.show_order("e5f6a7b8")
        await wait_until(pilot, lambda: pilot.app.detail_view.order_id == "e5f6a7b8" and pilot.app.detail_view.saga)
        await pilot.pause(0.2)

    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=select_compensated)


def test_faults_tab_at_80x24(snap_compare) -> None:
    async def faults(pilot: Pilot) -> None:
        await loaded(pilot)
        await pilot.press("f")
        await pilot.pause(0.2)

    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=faults)


def test_wide_screen_with_services(snap_compare) -> None:
    async def services(pilot: Pilot) -> None:
        await loaded(pilot)
        await pilot.press("v")
        await pilot.pause(0.2)

    assert snap_compare(frozen_app(), terminal_size=(150, 36), run_before=services)


def test_new_order_form_with_inline_errors(snap_compare) -> None:
    async def bad_form(pilot: Pilot) -> None:
        await loaded(pilot)
        await pilot.press("n")
        form = pilot.app.screen
        form.query_one("#order-id", Input).value = "snap-0001"
        form.query_one("#customer", Input).value = "no spaces!"
        form.query_one("#quantity", Input).value = "0"
        await pilot.click("#submit")
        await pilot.pause(0.2)

    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=bad_form)


# --- read-only mode and the guarded actions ---------------------------------------------------


def read_only_app() -> CheckoutApp:
    return frozen_app(dashboard={"replay_hours": 1, "read_only": True})


def test_read_only_main_screen_at_80x24(snap_compare) -> None:
    assert snap_compare(read_only_app(), terminal_size=(80, 24), run_before=loaded)


def test_read_only_faults_tab_at_80x24(snap_compare) -> None:
    async def faults(pilot: Pilot) -> None:
        await loaded(pilot)
        await pilot.press("f")
        await pilot.pause(0.2)

    assert snap_compare(read_only_app(), terminal_size=(80, 24), run_before=faults)


def test_read_only_wide_screen_with_services(snap_compare) -> None:
    async def services(pilot: Pilot) -> None:
        await loaded(pilot)
        await pilot.press("v")
        await pilot.pause(0.2)

    assert snap_compare(read_only_app(), terminal_size=(150, 36), run_before=services)


def test_read_only_help_screen(snap_compare) -> None:
    async def help_screen(pilot: Pilot) -> None:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(read_only_app(), terminal_size=(100, 40), run_before=help_screen)


def test_terminate_asks_for_the_order_id_at_80x24(snap_compare) -> None:
    async def terminate(pilot: Pilot) -> None:
        await loaded(pilot)
        pilot.app.show_order("c9d0e1f2")
        await wait_until(pilot, lambda: pilot.app.selected_order == "c9d0e1f2")
        await pilot.press("T", *"c9d0")
        await pilot.pause(0.3)

    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=terminate)


def test_quit_with_an_order_in_flight_at_80x24(snap_compare) -> None:
    async def quit_question(pilot: Pilot) -> None:
        await loaded(pilot)
        await pilot.press("q")
        await pilot.pause(0.3)

    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=quit_question)


# --- small terminals (issue 17, defect 6) ---------------------------------------------------------

BULK = [f"a8a3a8-{index:04d}" for index in range(8)]


def bulk_app() -> CheckoutApp:
    """A bulk submit's orders: their ids share the first seven characters."""
    app = frozen_app()
    facade = app.stack.facade
    assert isinstance(facade, FakeFacade)
    for index, order_id in enumerate(BULK):
        status = OrderStatus.COMPENSATED if index % 3 == 2 else OrderStatus.COMPLETED
        reason = Reason.CARD_DECLINED if status is OrderStatus.COMPENSATED else None
        started = NOW - timedelta(seconds=20 - index)
        facade.add_finished(order(order_id, f"bulk-{index}", "usb-cable", 1, 999), status, started, reason=reason)
    return app


async def bulk_loaded(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, CheckoutApp)
    await wait_until(pilot, lambda: app.orders_table.row_count == 3 + len(BULK) and app.status_line.health)
    await wait_until(pilot, lambda: not app.numbers_bar.catching_up, what="caught up")
    await pilot.pause(0.2)


def test_bulk_ids_at_60x20_keep_the_part_that_differs(snap_compare) -> None:
    assert snap_compare(bulk_app(), terminal_size=(60, 20), run_before=bulk_loaded)


def test_at_40x15_the_dashboard_asks_for_a_larger_terminal(snap_compare) -> None:
    assert snap_compare(bulk_app(), terminal_size=(40, 15), run_before=bulk_loaded)
