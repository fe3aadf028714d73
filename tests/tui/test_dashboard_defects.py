"""The defects an operator met in the dashboard's first pass (issue 8), each pinned by a test."""

from __future__ import annotations

from textual.pilot import Pilot

from tests.support.dashboard import wait_until
from tests.support.fake_facade import FakeStack
from tui.app import CheckoutApp


async def started(pilot: Pilot[int], app: CheckoutApp) -> None:
    await wait_until(pilot, lambda: app.facade is not None and app.status_line.health is not None, what="started")


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
