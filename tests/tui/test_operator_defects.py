"""The defects an operator hit during an incident (issue 17, part 4), in the dashboard: each pinned
by a test that failed before its fix."""

from __future__ import annotations

import asyncio

from engine.models import OrderStatus, StepEvent
from tests.support.dashboard import fake_settings, started, wait_until
from tests.support.fake_facade import FakeFacade, FakeStack
from tui.app import CheckoutApp
from tui.screens.new_order import NewOrderScreen


class SlowHistory(FakeFacade):
    """Reads an order's step history as JetStream does under load: what was there when asked,
    answered a while later (the live events go on meanwhile)."""

    async def order_events(self, order_id: str) -> list[StepEvent]:
        events = await super().order_events(order_id)
        await asyncio.sleep(0.3)
        return events


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
