"""The tail of step events, written a batch at a time."""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import Log

from engine.models import StepEvent
from tui.format import event_line

MAX_LINES_PER_BATCH = 200


class EventLog(Log):
    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    """

    def __init__(self, *, max_lines: int = 1000, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=True, id=id)

    def add_events(self, events: Sequence[StepEvent]) -> None:
        if not events:
            return
        skipped = len(events) - MAX_LINES_PER_BATCH
        if skipped > 0:
            self.write_line(f"… {skipped} events not shown")
            events = events[-MAX_LINES_PER_BATCH:]
        self.write_lines([event_line(event) for event in events])
