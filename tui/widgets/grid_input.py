"""An input in a grid of inputs: left and right move the cursor, and at its ends move to the next cell."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

from tui.messages import CellMove


class GridInput(Input):
    BINDINGS = [
        Binding("left", "cell_left", "Left", show=False),
        Binding("right", "cell_right", "Right", show=False),
    ]

    def _all_selected(self) -> bool:
        start, end = sorted(self.selection)
        return bool(self.value) and start == 0 and end == len(self.value)

    def action_cell_left(self) -> None:
        if self.cursor_at_start or self._all_selected():
            self.post_message(CellMove(self, 0, -1))
        else:
            self.action_cursor_left()

    def action_cell_right(self) -> None:
        if self.cursor_at_end or self._all_selected():
            self.post_message(CellMove(self, 0, 1))
        else:
            self.action_cursor_right()
