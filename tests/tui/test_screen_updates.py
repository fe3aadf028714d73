"""Step events pour in every 50 ms at full load: the widgets they change redraw themselves without
asking for a layout of the whole screen (a layout of the dashboard costs ~10 ms, most of a
batch's budget). A widget asks for one by `refresh(layout=True)`, directly or through a reactive."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual.widget import Widget

from engine.models import OrderInput
from tests.support.dashboard import started, visible_lines, wait_until
from tests.support.fake_facade import FakeStack
from tui.app import CheckoutApp
from tui.state import Counts
from tui.widgets.numbers import Numbers


def layout_requests(widget: Widget) -> list[str]:
    """From now on, one entry per layout `widget` asks for."""
    requests: list[str] = []
    refresh = widget.refresh

    def counted(*regions: Any, layout: bool = False, **kwargs: Any) -> Widget:
        if layout:
            requests.append(type(widget).__name__)
        return refresh(*regions, layout=layout, **kwargs)

    widget.refresh = counted  # type: ignore[method-assign]
    return requests


def an_order(order_id: str) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": "c",
            "items": [{"sku": "usb-cable", "quantity": 1, "unit_price_cents": 999}],
        }
    )


async def test_the_detail_changing_its_length_asks_for_no_layout(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        view = app.detail_view
        view.update("\n".join(f"row {n}" for n in range(80)))
        await pilot.pause(0.1)
        requests = layout_requests(view)
        for rows in range(40, 70, 3):
            table = Table("step", "status")
            for n in range(rows):
                table.add_row(f"step {n}", "succeeded")
            view.update(table)
            await pilot.pause(0.02)
        assert requests == [], "a new renderable asked for a layout of the screen"
        view.scroll_end(animate=False, immediate=True)
        await pilot.pause(0.1)
        assert any("step 66" in line for line in visible_lines(view)), "the whole table scrolls into view"


async def test_orders_coming_into_the_table_ask_for_no_layout(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        table = app.orders_table
        for n in range(40):  # more rows than fit: the scrollbar is there before counting
            await fake_stack.facade.submit(an_order(f"first-{n}"))
        await wait_until(pilot, lambda: table.row_count == 40)
        requests = layout_requests(table)
        for n in range(15):
            await fake_stack.facade.submit(an_order(f"more-{n}"))
            await pilot.pause(0.06)
        await wait_until(pilot, lambda: all(app.book.is_terminal(f"more-{n}") for n in range(15)))
        assert table.row_count == 55
        assert requests == [], "rows coming and changing asked for a layout of the screen"


async def test_the_numbers_widen_when_they_grow_and_keep_their_width_when_they_shrink(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await wait_until(pilot, lambda: not app.numbers_bar.catching_up)
        bar, counts = app.numbers_bar, app.numbers_bar.query_one("#counts")

        def show(in_flight: int) -> None:
            bar.show(Numbers(counts=Counts(in_flight=in_flight, completed=500)))

        show(10)
        await pilot.pause(0.05)
        width = counts.outer_size.width
        requests = layout_requests(counts)
        for in_flight in (9, 10, 8, 10, 9):
            show(in_flight)
        assert requests == [], "in flight going 9, 10, 9 laid out the screen"
        show(1000)
        assert len(requests) == 1, "more digits widen the counts"
        await pilot.pause(0.05)
        assert counts.outer_size.width == width + 2
        assert "in flight 1000" in visible_lines(counts)[0]
