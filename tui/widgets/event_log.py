"""The tail of step events, written a batch at a time, and only while the log is on screen."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from textual.widgets import Log

from engine.models import StepEvent
from tui.format import event_line

MAX_LINES_PER_BATCH = 200


class EventLog(Log):
    """While hidden (another tab shows) lines wait in a bounded buffer: a growing log re-lays
    out the screen on every write, which is worth paying only when someone looks at it."""

    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    """

    def __init__(self, *, max_lines: int = 1000, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=True, id=id)
        self._waiting: deque[str] = deque(maxlen=max_lines)
        self._skipped = 0

    def add_events(self, events: Sequence[StepEvent]) -> None:
        if not events:
            return
        skipped = len(events) - MAX_LINES_PER_BATCH
        if skipped > 0:
            events = events[-MAX_LINES_PER_BATCH:]
        lines = [event_line(event) for event in events]
        if skipped > 0:
            lines.insert(0, f"… {skipped} events not shown")
        if self.is_on_screen:
            self.write_lines(lines)
        else:
            self._waiting.extend(lines)

    def add_note(self, line: str) -> None:
        """A line that is no step event (e.g. a terminate, which publishes none)."""
        if self.is_on_screen:
            self.write_line(line)
        else:
            self._waiting.append(line)

    @property
    def is_on_screen(self) -> bool:
        return self.is_mounted and self.display and self.parent is not None and self.parent.display

    def flush_waiting(self) -> None:
        """Write what arrived while hidden (the app calls this when the log tab opens)."""
        if self._waiting:
            lines = list(self._waiting)
            self._waiting.clear()
            self.write_lines(lines)

    @property
    def tail(self) -> list[str]:
        """Every line, shown or waiting (tests)."""
        return [str(line) for line in self.lines] + list(self._waiting)
