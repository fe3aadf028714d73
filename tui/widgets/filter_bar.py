"""The line above the orders table: text filter, status filter and the current sort order."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Select

from tui.messages import FilterChanged
from tui.state import SortMode, StatusFilter

STATUS_CHOICES = [(status.label, status) for status in StatusFilter]
SORT_LABEL_WIDTH = len("sort: ") + max(len(mode.value) for mode in SortMode)


class FilterBar(Horizontal):
    DEFAULT_CSS = """
    FilterBar {
        height: 1;
        width: 1fr;
    }
    FilterBar > Input { width: 1fr; min-width: 12; }
    FilterBar > Select { width: 24; }
    FilterBar > Label { width: auto; padding: 0 1; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        # Kept: a batch may be shown while the app shuts down, when queries no longer find them.
        self._text = Input(placeholder="filter: id, customer, step…", id="filter-text", compact=True)
        self._status = Select(
            STATUS_CHOICES, value=StatusFilter.ALL, allow_blank=False, id="filter-status", compact=True
        )
        self._count = Label("", id="count-label")
        self._sort = Label(f"sort: {SortMode.NEWEST.value}".ljust(SORT_LABEL_WIDTH), id="sort-label")
        yield from (self._text, self._status, self._count, self._sort)

    @property
    def status(self) -> StatusFilter:
        value = self._status.value
        return value if isinstance(value, StatusFilter) else StatusFilter.ALL

    @property
    def text(self) -> str:
        return self._text.value

    def focus_text(self) -> None:
        self._text.focus()

    def cycle_status(self) -> StatusFilter:
        choices = [value for _, value in STATUS_CHOICES]
        following = choices[(choices.index(self.status) + 1) % len(choices)]
        self._status.value = following
        return following

    def set_status(self, status: StatusFilter) -> None:
        self._status.value = status

    def clear(self) -> None:
        self._text.value = ""
        self._status.value = StatusFilter.ALL

    def show_count(self, shown: int, total: int) -> None:
        """How many orders the table shows: `N of M` while a filter hides some."""
        text = f"{shown} of {total}" if shown != total else f"{total} orders"
        label = self._count
        before = str(label.content)
        if before != text:  # a new layout only when the width changes: this runs with every batch
            label.update(text, layout=len(before) != len(text))

    def show_sort(self, mode: SortMode) -> None:
        # As wide as the widest mode: a new sort needs no new layout.
        self._sort.update(f"sort: {mode.value}".ljust(SORT_LABEL_WIDTH), layout=False)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(FilterChanged(self.status, event.value))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.post_message(FilterChanged(self.status, self.text))
