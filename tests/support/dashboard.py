"""Dashboard test helpers: settings for the fake, and waiting on the Pilot."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget

from engine.config import Settings

if TYPE_CHECKING:
    from tui.app import CheckoutApp


def fake_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "embedded": {"mode": "never"},
        "saga": {"hold_seconds": 0.6},
        "dashboard": {"replay_hours": 1},
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def wait_until(
    pilot: Pilot[object], predicate: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    """Let the app run until `predicate()` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await pilot.pause(0.05)


async def started(pilot: Pilot[Any], app: CheckoutApp) -> None:
    """Until the app has its facade and has read the servers' health once."""
    await wait_until(pilot, lambda: app.facade is not None and app.status_line.health is not None, what="started")


def visible_lines(widget: Widget) -> list[str]:
    """The text a widget shows on screen now, line by line (cropped to its size)."""
    width, height = widget.outer_size
    return ["".join(segment.text for segment in strip) for strip in widget.render_lines(Region(0, 0, width, height))]
