"""The dashboard during an incident, over the in-memory facade: a silent part named fast and right,
with a notification and a log line; a supervised server's restart told; a bulk submit that
Temporal partly refused says so, in a dialog whose text fits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from textual.widgets import Input, ProgressBar

from engine.errors import Unreachable
from engine.models import OrderInput
from engine.supervision import ServerEvent, ServerEventKind
from tests.support.dashboard import started, visible_lines, wait_until
from tests.support.fake_facade import FakeStack
from tui.app import CheckoutApp
from tui.screens.bulk_submit import BulkSubmitScreen

REFUSAL = "Temporal at 127.0.0.1:7233 is unreachable (failed to connect: connection refused)"


async def hangs(*_args: object) -> None:
    await asyncio.sleep(60)  # as a read over a frozen NATS does, until its timeout


async def test_a_silent_nats_is_named_within_2_s_while_the_reads_over_it_hang(
    fake_stack: FakeStack, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: health waited behind the services and faults reads (5 s each), and the line then
    blamed the worker (`no checkout service answers…`); no notification, no log line."""
    caplog.set_level(logging.INFO, logger="tui.health")
    facade = fake_stack.facade
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, app)
        await pilot.pause(1.2)  # a read of everything has come back healthy
        assert "down" not in app.status_line.plain
        facade.faults = hangs  # type: ignore[method-assign]
        facade.services_snapshot = hangs  # type: ignore[method-assign]
        facade.health_now = facade.health_now.model_copy(update={"nats": False, "services": {}})
        frozen = time.monotonic()
        await wait_until(pilot, lambda: "NATS not answering" in app.status_line.plain, timeout=5)
        assert time.monotonic() - frozen < 2.0, "named within 2 s"
        assert "NATS down" in app.status_line.plain and "Temporal down" not in app.status_line.plain
        assert "worker" not in app.status_line.problem
        assert ("error", "Down", "NATS not answering") in app.notices
        assert [r.getMessage() for r in caplog.records if r.name == "tui.health"] == ["NATS not answering"]

        facade.health_now = facade.health_now.model_copy(update={"nats": True, "services": {"payment": True}})
        await wait_until(pilot, lambda: ("information", "Back", "NATS answers again") in app.notices, timeout=3)
        assert "NATS not answering" not in app.status_line.plain
        assert [r.getMessage() for r in caplog.records if r.name == "tui.health"][-1] == "NATS answers again"
        assert not [m for _, t, m in app.notices if t == "Back" and "service" in m], "no service went down"


async def test_a_worker_that_stops_polling_is_named_with_its_task_queue(fake_stack: FakeStack) -> None:
    facade = fake_stack.facade
    app = CheckoutApp(fake_stack)
    queue = fake_stack.settings.temporal.task_queue
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, app)
        facade.health_now = facade.health_now.model_copy(update={"worker": False})
        await wait_until(pilot, lambda: ("error", "Down", f"no worker polling task queue {queue}") in app.notices)
        assert f"no worker polling task queue {queue}" in app.status_line.plain
        facade.health_now = facade.health_now.model_copy(update={"services": {"payment": False, "shipping": True}})
        await wait_until(pilot, lambda: ("error", "Down", "payment service not answering") in app.notices)


async def test_a_supervised_server_restart_is_a_notification(fake_stack: FakeStack) -> None:
    app = CheckoutApp(fake_stack)
    async with app.run_test() as pilot:
        await started(pilot, app)
        (listener,) = fake_stack.server_listeners
        listener(ServerEvent("temporal", ServerEventKind.EXITED, "Temporal server exited (killed by SIGKILL): …"))
        listener(ServerEvent("temporal", ServerEventKind.RESTARTED, "Temporal server restarted (pid 42) on data"))
        await wait_until(pilot, lambda: len([n for n in app.notices if n[1].startswith("Server")]) == 2)
        assert ("error", "Server down", "Temporal server exited (killed by SIGKILL): …") in app.notices
        assert ("information", "Server restarted", "Temporal server restarted (pid 42) on data") in app.notices


def refusing_after(accepted: int, submit: Callable[[OrderInput], object]) -> Callable[[OrderInput], object]:
    """A submit that Temporal refuses from the `accepted`+1st order on, as when its server died."""
    count = 0

    async def refusing(order: OrderInput) -> None:
        nonlocal count
        count += 1
        if count > accepted:
            raise Unreachable(REFUSAL)
        await submit(order)  # type: ignore[misc]

    return refusing


@pytest.mark.parametrize("size", [(80, 24), (60, 20), (40, 15)])
async def test_a_bulk_submit_that_temporal_partly_refused_says_what_and_why(
    fake_stack: FakeStack, size: tuple[int, int]
) -> None:
    """Before: the bar said 100%, the dialog `… 12 refused (Temp…` cut at its edge, the
    notification `8 orders submitted`."""
    facade = fake_stack.facade
    facade.submit = refusing_after(8, facade.submit)  # type: ignore[method-assign,assignment]
    app = CheckoutApp(fake_stack)
    async with app.run_test(size=size) as pilot:
        await started(pilot, app)
        await pilot.press("b")
        bulk = app.screen
        assert isinstance(bulk, BulkSubmitScreen)
        bulk.query_one("#count", Input).value = "20"
        bulk.query_one("#rate", Input).value = "200"
        await pilot.press("enter")  # in the count field: starts (the Start button is off screen at 40x15)
        await wait_until(pilot, lambda: not bulk.running and bulk.failed == 12, what="the bulk run over")
        await pilot.pause(0.4)  # the progress is drawn every 0.25 s
        bar = bulk.query_one("#submitted-bar", ProgressBar)
        assert bar.percentage == pytest.approx(8 / 20), "the bar counts only what was submitted"
        text = bulk.query_one("#progress-text")
        dialog = bulk.query_one("#dialog")
        assert text.region.right <= dialog.region.right and text.region.x >= dialog.region.x
        shown = " ".join(" ".join(line.split()) for line in visible_lines(text))
        assert "8 of 20 submitted" in shown
        assert f"12 refused: {REFUSAL}" in shown, shown
        assert "…" not in shown, "nothing cut"
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, BulkSubmitScreen))
    severity, title, message = app.notices[-1]
    assert (severity, title) == ("error", "Bulk submit")
    assert message == f"8 of 20 orders submitted; 12 refused: {REFUSAL}"
