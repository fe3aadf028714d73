"""The dashboard over the REAL embedded stack: Temporal dev server, nats-server, services, worker.

One stack per module (started once, stopped after); each test runs its own app over it
with `owns_stack=False`, and one test lets an app own a stack and checks that quitting
leaves no server process behind.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from textual.widgets import Input, Select

from engine.config import CONFIG_ENV, Settings, load_settings
from engine.models import FaultSettings, OrderInput, OrderStatus, Reason, ServiceName, StepStatus
from engine.services.queries import collect_replies
from engine.stack import Stack
from tests.support.dashboard import wait_until
from tests.support.servers import pid_alive
from tests.support.stack import stack_settings as integration_stack_settings
from tui.app import CheckoutApp
from tui.config import dashboard_settings
from tui.entry import HELPER_NICENESS, dashboard_stack
from tui.screens.bulk_submit import BulkSubmitScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.new_order import NewOrderScreen
from tui.widgets.order_detail import OrderDetail
from tui.widgets.orders_table import OrdersTable

pytestmark = pytest.mark.integration

SIZE = (120, 40)


def stack_settings(data_dir: Path) -> Settings:
    """The integration tier's private-stack settings, with a hold and reconcile pace for the dashboard."""
    return integration_stack_settings(
        data_dir,
        saga={"hold_seconds": 2, "step_timeout_seconds": 2},
        dashboard={"replay_hours": 1, "reconcile_seconds": 2},
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    running = Stack(stack_settings(tmp_path_factory.mktemp("tui-stack")))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def clear_faults(stack: Stack) -> AsyncIterator[None]:
    await stack.facade.clear_faults()
    yield
    await stack.facade.clear_faults()


def an_order(sku: str = "golang-book", quantity: int = 1) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": f"ext-{uuid.uuid4().hex[:8]}",
            "customer_id": "cust-outside",
            "items": [{"sku": sku, "quantity": quantity, "unit_price_cents": 3999}],
        }
    )


def status_of(app: CheckoutApp, order_id: str) -> OrderStatus | None:
    row = app.book.orders.get(order_id)
    return row.status if row else None


def saga_status(app: CheckoutApp) -> OrderStatus | None:
    saga = app.query_one(OrderDetail).saga
    return saga.status if saga else None


async def ready(pilot, app: CheckoutApp) -> None:
    await wait_until(pilot, lambda: app.facade is not None and app.status_line.health is not None, timeout=30)


async def submit_from_form(pilot, app: CheckoutApp, *, quantity: str = "1", sku: str | None = None) -> str:
    await pilot.press("n")
    form = app.screen
    assert isinstance(form, NewOrderScreen)
    form.query_one("#quantity", Input).value = quantity
    if sku:
        form.query_one("#sku", Select).value = sku
    order_id = form.query_one("#order-id", Input).value
    await pilot.click("#submit")
    await wait_until(pilot, lambda: not isinstance(app.screen, NewOrderScreen), timeout=15, what="form submitted")
    return order_id


@pytest.mark.usefixtures("clear_faults")
async def test_a_valid_order_from_the_form_completes_in_table_and_detail(stack: Stack) -> None:
    app = CheckoutApp(stack, owns_stack=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        order_id = await submit_from_form(pilot, app, quantity="2")
        table = app.query_one(OrdersTable)
        await wait_until(pilot, lambda: table.shown(order_id), timeout=5)
        assert app.selected_order == order_id
        await wait_until(pilot, lambda: status_of(app, order_id) is OrderStatus.COMPLETED, timeout=30)
        await wait_until(pilot, lambda: table.cell_text(order_id, "status").endswith("COMPLETED"), timeout=5)
        assert table.cell_text(order_id, "total") == "$79.98"
        await wait_until(pilot, lambda: saga_status(app) is OrderStatus.COMPLETED, timeout=10)
        detail = app.query_one(OrderDetail)
        assert [detail.step_status(step) for step in ("reserve", "charge", "hold", "ship")] == [
            StepStatus.SUCCEEDED
        ] * 4
        assert f"order-{order_id}" in detail.plain  # the Temporal Web UI link
        assert any(order_id in line and "ship" in line for line in app.event_log.tail)


@pytest.mark.usefixtures("clear_faults")
async def test_invalid_form_input_is_refused_and_nothing_reaches_temporal(stack: Stack) -> None:
    app = CheckoutApp(stack, owns_stack=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("n")
        form = app.screen
        order_id = form.query_one("#order-id", Input).value
        form.query_one("#customer", Input).value = "no spaces allowed"
        form.query_one("#quantity", Input).value = "-3"
        await pilot.click("#submit")
        await pilot.pause(0.3)
        assert isinstance(app.screen, NewOrderScreen)
        assert set(form.problems) == {"customer", "quantity"}
        await pilot.press("escape")
        listed = {summary.order_id for summary in await stack.facade.list_orders(limit=200)}
        assert order_id not in listed


@pytest.mark.usefixtures("clear_faults")
async def test_payment_decline_set_in_the_faults_panel_compensates_the_next_order(stack: Stack) -> None:
    app = CheckoutApp(stack, owns_stack=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("f")
        app.query_one("#payment-decline_rate", Input).focus()
        await pilot.press("1", "enter")
        await wait_until(
            pilot,
            lambda: app.faults_panel.current.get(ServiceName.PAYMENT, FaultSettings()).decline_rate == 1,
            timeout=5,
        )
        assert (await stack.facade.faults())[ServiceName.PAYMENT].decline_rate == 1.0
        await pilot.press("escape", "d")  # leave the input, back to the table; show the detail tab
        assert app.focused is app.orders_table
        order_id = await submit_from_form(pilot, app)
        await wait_until(pilot, lambda: status_of(app, order_id) is OrderStatus.COMPENSATED, timeout=30)
        assert app.book.orders[order_id].reason is Reason.CARD_DECLINED
        assert app.query_one(OrdersTable).cell_text(order_id, "step") == "card_declined"
        await wait_until(pilot, lambda: saga_status(app) is OrderStatus.COMPENSATED, timeout=10)
        detail = app.query_one(OrderDetail)
        assert detail.step_status("charge") is StepStatus.FAILED
        assert detail.step_status("restock", compensation=True) is StepStatus.SUCCEEDED
        # The charge was declined, so nothing was taken: the refund is skipped or a no-op, never missing money.
        assert "restock" in detail.plain and "card_declined" in detail.plain


@pytest.mark.usefixtures("clear_faults")
async def test_cancel_during_the_hold_shows_refund_and_restock(stack: Stack) -> None:
    app = CheckoutApp(stack, owns_stack=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        order_id = await submit_from_form(pilot, app)
        await wait_until(
            pilot, lambda: app.book.orders.get(order_id) and app.book.orders[order_id].step == "hold", timeout=15
        )
        assert app.selected_order == order_id
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: any("cancel accepted" in m for _, _, m in app.notices), timeout=10)
        await wait_until(pilot, lambda: status_of(app, order_id) is OrderStatus.COMPENSATED, timeout=30)
        await wait_until(pilot, lambda: saga_status(app) is OrderStatus.COMPENSATED, timeout=10)
        detail = app.query_one(OrderDetail)
        assert detail.saga.reason is Reason.CANCELLED
        assert detail.step_status("refund", compensation=True) is StepStatus.SUCCEEDED
        assert detail.step_status("restock", compensation=True) is StepStatus.SUCCEEDED
        assert detail.step_status("ship") in (None, StepStatus.PENDING, StepStatus.SKIPPED)
        await pilot.press("c")  # finished now: refused before asking
        assert not isinstance(app.screen, ConfirmScreen)


@pytest.mark.usefixtures("clear_faults")
async def test_a_terminated_order_shows_terminated_in_table_detail_and_log(stack: Stack) -> None:
    app = CheckoutApp(stack, owns_stack=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        order_id = await submit_from_form(pilot, app)
        await wait_until(
            pilot, lambda: app.book.orders.get(order_id) and app.book.orders[order_id].step == "hold", timeout=15
        )
        await pilot.press("T")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press(*order_id)
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: status_of(app, order_id) is OrderStatus.TERMINATED, timeout=10)
        await wait_until(pilot, lambda: saga_status(app) is OrderStatus.TERMINATED, timeout=10, what="detail")
        detail = app.query_one(OrderDetail)
        assert "RUNNING" not in detail.plain.splitlines()[2], detail.plain
        assert any(order_id in line and "terminated" in line for line in app.event_log.tail)


@pytest.mark.usefixtures("clear_faults")
async def test_bulk_submit_progress_ends_with_every_order_terminal(stack: Stack) -> None:
    app = CheckoutApp(stack, owns_stack=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("b")
        bulk = app.screen
        assert isinstance(bulk, BulkSubmitScreen)
        bulk.query_one("#count", Input).value = "20"
        bulk.query_one("#rate", Input).value = "8"
        await pilot.click("#start")
        await wait_until(pilot, lambda: bulk.running and len(bulk.submitted) >= 3, timeout=10, what="progress mid-run")
        assert "running: " in str(bulk.query_one("#progress-text").render())
        await wait_until(pilot, lambda: bulk.done, timeout=90, what="every bulk order terminal")
        assert len(bulk.submitted) == 20 and bulk.failed == 0
        await pilot.pause(0.3)
        assert "20 finished" in str(bulk.query_one("#progress-text").render())
        for order_id in bulk.submitted:
            assert status_of(app, order_id) is OrderStatus.COMPLETED
        await pilot.click("#close")


@pytest.mark.usefixtures("clear_faults")
async def test_an_order_started_through_the_engine_appears_live(stack: Stack) -> None:
    app = CheckoutApp(stack, owns_stack=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        order = an_order()
        await stack.facade.submit(order)  # as `checkout trigger` or another process would
        table = app.query_one(OrdersTable)
        await wait_until(pilot, lambda: table.shown(order.order_id), timeout=10)
        assert table.cell_text(order.order_id, "customer") == "cust-outside"
        await wait_until(pilot, lambda order=order: status_of(app, order.order_id) is OrderStatus.COMPLETED, timeout=30)


@pytest.mark.usefixtures("clear_faults")
async def test_a_restarted_dashboard_rebuilds_the_table_from_temporal_and_the_events(stack: Stack) -> None:
    orders = [an_order() for _ in range(3)]
    for order in orders:
        await stack.facade.submit(order)
    for order in orders:
        await stack.facade.result(order.order_id)
    app = CheckoutApp(stack, owns_stack=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        for order in orders:
            await wait_until(
                pilot, lambda order=order: status_of(app, order.order_id) is OrderStatus.COMPLETED, timeout=15
            )
        listed = await stack.facade.list_orders(limit=1000)
        await wait_until(pilot, lambda: all(s.order_id in app.book.orders for s in listed), timeout=15)


async def test_quitting_an_app_that_owns_its_stack_leaves_no_server_behind(tmp_path: Path) -> None:
    stack = Stack(stack_settings(tmp_path))
    app = CheckoutApp(stack, owns_stack=True)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "starting servers" in app.status_line.plain
        await ready(pilot, app)
        pids = list(stack.servers.pids.values())
        assert len(pids) == 2 and all(pid_alive(pid) for pid in pids)
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None, timeout=30)
    assert app.return_code == 0
    for _ in range(100):
        if not any(pid_alive(pid) for pid in pids):
            break
        await asyncio.sleep(0.1)
    assert not [pid for pid in pids if pid_alive(pid)], "embedded servers left running"


async def test_the_dashboards_worker_processes_work_and_stop_when_it_quits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dashboard.worker_processes` as `checkout dashboard` runs them: `checkout worker` processes that
    read the same config file (so the test writes one), started after the first full screen."""
    config = tmp_path / "config.yaml"
    written = stack_settings(tmp_path).model_dump(mode="json") | {"dashboard": {"worker_processes": 1}}
    config.write_text(yaml.safe_dump(written))
    monkeypatch.setenv(CONFIG_ENV, str(config))
    settings = load_settings()
    stack = dashboard_stack(settings, dashboard_settings(settings.dashboard))
    app = CheckoutApp(stack, owns_stack=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert stack.helpers is not None
        await wait_until(pilot, lambda: stack.helpers is not None and stack.helpers.pids, timeout=30)
        helper = stack.helpers.pids[0]
        assert "worker" in Path(f"/proc/{helper}/cmdline").read_text()
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, helper) == min(19, ours + HELPER_NICENESS), "it yields the CPU to us"
        assert all(os.getpriority(os.PRIO_PROCESS, pid) == ours for pid in stack.servers.pids.values())
        servers = list(stack.servers.pids.values())
        # Orders still complete when the dashboard's own worker takes few of them.
        orders = [an_order() for _ in range(6)]
        for order in orders:
            await stack.facade.submit(order)
        done = lambda: all(status_of(app, o.order_id) is OrderStatus.COMPLETED for o in orders)  # noqa: E731
        await wait_until(pilot, done, timeout=60)
        # The helper applies faults as the dashboard decided (its own default, embedded.mode never, is off).
        assert stack.nc is not None and len(await collect_replies(stack.nc, "$SRV.INFO.control")) == 2
        await stack.facade.faults()  # FaultsDisabled if one of the two workers were off
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None, timeout=60)
    assert app.return_code == 0
    for _ in range(100):
        if not any(pid_alive(pid) for pid in [helper, *servers]):
            break
        await asyncio.sleep(0.1)
    assert not pid_alive(helper), "a worker process outlived the dashboard"
    assert not [pid for pid in servers if pid_alive(pid)], "embedded servers left running"
