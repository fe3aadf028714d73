"""The orders table: one row per order, keyed by the order id, changed cell by cell, never rebuilt."""

from __future__ import annotations

from datetime import datetime

from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from engine.models import EventKind
from tui.format import Cell, duration, money, status_cell
from tui.state import BatchResult, OrderBook, OrderRow, SortMode, StatusFilter

# (label, key, width): None sizes the column to its content; cells whose text changes get a fixed width.
COLUMNS = (
    ("id", "id", None),
    ("customer", "customer", None),
    ("total", "total", None),
    ("status", "status", 13),
    ("step / reason", "step", 17),
    ("att", "attempts", 3),
    ("age", "age", 6),
)

_KIND_STYLE = {
    EventKind.STARTED: "yellow",
    EventKind.SUCCEEDED: "green",
    EventKind.FAILED: "bold red",
    EventKind.COMPENSATING: "magenta",
    EventKind.COMPENSATED: "cyan",
}


def _step_cell(row: OrderRow) -> Cell:
    if row.status.is_terminal:
        return Cell(row.reason.value, "") if row.reason else Cell("—", "dim")
    if not row.step:
        return Cell("…", "dim")
    return Cell(row.step, _KIND_STYLE.get(row.step_kind, "") if row.step_kind else "")


def _age_cell(row: OrderRow, now: datetime) -> Cell:
    return Cell(duration(row.age_seconds(now)), right=True)


def cells(row: OrderRow, now: datetime) -> dict[str, Cell]:
    return {
        "id": Cell(row.order_id),
        "customer": Cell(row.customer_id or "—"),
        "total": Cell(money(row.total_cents), right=True),
        "status": status_cell(row.status),
        "step": _step_cell(row),
        "attempts": Cell(str(row.attempts) if row.attempts > 1 else "", "bold magenta", right=True),
        "age": _age_cell(row, now),
    }


class OrdersTable(DataTable):
    """Shows the order book through a status filter, a text filter and a sort order."""

    DEFAULT_CSS = """
    OrdersTable {
        height: 1fr;
    }
    """

    class SelectionChanged(Message):
        """The order under the cursor changed (None: the table is empty)."""

        def __init__(self, order_id: str | None) -> None:
            super().__init__()
            self.order_id = order_id

    def __init__(self, book: OrderBook, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.book = book
        self.status_filter = StatusFilter.ALL
        self.text_filter = ""
        self.sort_mode = SortMode.NEWEST
        self.selected: str | None = None

    def on_mount(self) -> None:
        for label, key, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    # --- what the app calls -----------------------------------------------------------------

    def apply_batch(self, result: BatchResult) -> None:
        """Show what one batch of the order book changed: add, update in place, remove."""
        now = self.book.clock()
        structural = False
        for order_id in result.evicted:
            structural |= self._remove(order_id)
        for order_id in result.touched:
            structural |= self._show(order_id, now)
        if structural or (self.sort_mode is SortMode.STATUS and result.status_changed):
            self._resort()

    def tick_ages(self) -> None:
        """Once a second: the age of every order still in flight."""
        now = self.book.clock()
        for order_id in self.book.in_flight_ids():
            row = self.book.orders[order_id]
            if order_id in self.rows:
                self._set(order_id, "age", _age_cell(row, now))

    def set_filter(self, status: StatusFilter | None = None, text: str | None = None) -> None:
        if status is not None:
            self.status_filter = status
        if text is not None:
            self.text_filter = text
        now = self.book.clock()
        structural = False
        for order_id in list(self.rows):
            if order_id.value not in self.book.orders:
                structural |= self._remove(order_id.value)
        for order_id in list(self.book.orders):
            structural |= self._show(order_id, now)
        if structural:
            self._resort()

    def set_sort(self, mode: SortMode) -> None:
        self.sort_mode = mode
        self._resort()

    def select_order(self, order_id: str) -> bool:
        """Put the cursor on `order_id` if it is shown."""
        try:
            index = self.get_row_index(order_id)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index)
        self._selection_maybe_changed()
        return True

    def shown(self, order_id: str) -> bool:
        return order_id in self.rows

    def cell_text(self, order_id: str, column: str) -> str:
        return str(self.get_cell(order_id, column))

    # --- inside -------------------------------------------------------------------------

    def _show(self, order_id: str, now: datetime) -> bool:
        """Add, update or remove one row according to the filters; True when rows came or went."""
        row = self.book.orders.get(order_id)
        wanted = row is not None and self.book.matches(order_id, self.status_filter, self.text_filter)
        present = order_id in self.rows
        if not wanted:
            return self._remove(order_id) if present else False
        assert row is not None
        values = cells(row, now)
        if present:
            for column, value in values.items():
                self._set(order_id, column, value)
            return False
        self.add_row(*(values[key] for _, key, _ in COLUMNS), key=order_id)
        return True

    def _set(self, order_id: str, column: str, value: Cell) -> None:
        """update_cell, skipped when the value is unchanged: every update makes the table redraw."""
        if self.get_cell(order_id, column) != value:
            self.update_cell(order_id, column, value)

    def _remove(self, order_id: str) -> bool:
        if order_id not in self.rows:
            return False
        self.remove_row(order_id)
        return True

    def _resort(self) -> None:
        if self.row_count:
            key = self.book.sort_key(self.sort_mode)
            self.sort("id", key=lambda cell: key(str(cell)))
        if self.selected is not None and self.selected in self.rows:
            index = self.get_row_index(self.selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, scroll=False)
        self._selection_maybe_changed()

    def _key_at_cursor(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return row_key.value

    def _selection_maybe_changed(self) -> None:
        current = self._key_at_cursor()
        if current != self.selected:
            self.selected = current
            self.post_message(self.SelectionChanged(current))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._selection_maybe_changed()
