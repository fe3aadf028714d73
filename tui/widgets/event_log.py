"""The tail of step events: follows the newest line unless paused, and can show only one order's.

Lines are written only while the log is on screen and not paused: a growing log re-lays out
the screen on every write, which is worth paying only when someone looks at it. The rest
wait in the kept lines and are written when the log shows again or resumes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, Static

from engine.models import StepEvent
from tui.format import event_line

MAX_LINES_PER_BATCH = 200


class Entry(NamedTuple):
    seq: int
    order_id: str | None
    line: str


class EventLog(Vertical):
    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    EventLog > #log-state { height: 1; color: $text-muted; padding: 0 1; }
    EventLog > Log { height: 1fr; }
    """

    def __init__(self, *, max_lines: int = 1000, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self.paused = False
        self.only: str | None = None  # show only this order's lines
        self._entries: deque[Entry] = deque(maxlen=max_lines)
        self._seq = 0
        self._written = 0  # seq of the last entry written to the Log
        self._state_shown = Text()

    def compose(self) -> ComposeResult:
        yield Static(id="log-state")
        yield Log(max_lines=self.max_lines, auto_scroll=False, id="log-lines")

    def on_mount(self) -> None:
        self._log = self.query_one(Log)
        self._state = self.query_one("#log-state", Static)
        self._show_state()

    # --- what the app calls -----------------------------------------------------------------

    def add_events(self, batch: Sequence[StepEvent]) -> None:
        if not batch:
            return
        skipped = len(batch) - MAX_LINES_PER_BATCH
        if skipped > 0:
            batch = batch[-MAX_LINES_PER_BATCH:]
            self._keep(None, f"… {skipped} events not shown")
        for event in batch:
            self._keep(event.order_id, event_line(event))
        self._write_new()

    def add_note(self, order_id: str, line: str) -> None:
        """A line that is no step event (e.g. a terminate, which publishes none)."""
        self._keep(order_id, line)
        self._write_new()

    def flush_waiting(self) -> None:
        """Write what arrived while hidden, and show the newest (the app calls this when the tab opens)."""
        self._write_new()
        self._follow()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if not paused:
            self._write_new()
            self._follow()
        self._show_state()

    def show_only(self, order_id: str | None) -> None:
        """Only `order_id`'s lines (None: every order's), written again from the kept lines."""
        self.only = order_id
        self._log.clear()
        self._written = 0
        self._write_new(force=True)
        self._follow()
        self._show_state()

    @property
    def is_on_screen(self) -> bool:
        return self.is_mounted and self.display and self.parent is not None and self.parent.display

    @property
    def at_end(self) -> bool:
        """The last line is in view (tests)."""
        return self._log.scroll_offset.y >= self._log.max_scroll_y

    @property
    def tail(self) -> list[str]:
        """Every kept line, shown or waiting (tests)."""
        return [entry.line for entry in self._entries]

    @property
    def shown(self) -> list[str]:
        """The lines in the log now (tests)."""
        return [str(line) for line in self._log.lines]

    # --- inside -------------------------------------------------------------------------

    def _keep(self, order_id: str | None, line: str) -> None:
        self._seq += 1
        self._entries.append(Entry(self._seq, order_id, line))

    def _wanted(self, entry: Entry) -> bool:
        return self.only is None or entry.order_id == self.only

    def _write_new(self, *, force: bool = False) -> None:
        if not force and (self.paused or not self.is_on_screen):
            self._show_state()
            return
        lines = [entry.line for entry in self._entries if entry.seq > self._written and self._wanted(entry)]
        self._written = self._seq
        if lines:
            self._log.write_lines(lines, scroll_end=False)
            self._follow()
        self._show_state()

    def _follow(self) -> None:
        # Also after the next layout: a log that was hidden or resized learns its height only then.
        if not self.paused:
            self._log.scroll_end(animate=False, immediate=True, x_axis=False)
            self.call_after_refresh(self._log.scroll_end, animate=False, x_axis=False)

    def on_resize(self, _: events.Resize) -> None:
        self._follow()

    def _show_state(self) -> None:
        if not self.is_on_screen:
            return
        waiting = sum(1 for entry in self._entries if entry.seq > self._written and self._wanted(entry))
        state = Text()
        if self.paused:
            state.append("paused", style="bold yellow")
            if waiting:
                state.append(f": {waiting} new lines")
            state.append("  (p resumes)")
        else:
            state.append("following")
        state.append(f" · {f'order {self.only}' if self.only else 'every order'}")
        state.append("  (o: the selected order only)" if self.only is None else "  (o: every order)")
        if state != self._state_shown:
            self._state_shown = state
            self._state.update(state, layout=False)
