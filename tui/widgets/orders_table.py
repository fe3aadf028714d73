"""The orders table: one row per order, keyed by the order id, updated in place, never rebuilt.

Drawn with Textual's Line API rather than a DataTable: a DataTable renders every visible
cell again after any change, which under load took most of the dashboard's CPU. Here each
row keeps its rendered strip until one of its own cells changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.models import EventKind, OrderStatus
from tui.format import PAUSED_CELL, Cell, cached_style, duration, fit, fit_id, money, status_cell
from tui.messages import OrderChosen, OrderSelected, SortChosen
from tui.state import BatchResult, OrderBook, OrderRow, SortMode, StatusFilter


@dataclass(frozen=True)
class Column:
    label: str
    key: str
    width: int  # at least this wide
    widest: int  # grows to its widest value up to this
    floor: int  # when the row does not fit, shrinks down to this (flexible columns only)


COLUMNS = (
    Column("id", "id", 8, 24, 8),
    Column("customer", "customer", 9, 16, 8),
    Column("total", "total", 7, 12, 7),
    Column("status", "status", 14, 14, 14),  # "↺ COMPENSATING"
    Column("step / reason", "step", 13, 48, 10),  # also takes the width left over
    Column("att", "attempts", 3, 3, 3),
    Column("age", "age", 6, 6, 6),
)
KEYS = [column.key for column in COLUMNS]
AGE = KEYS.index("age")
GAP = 1  # space between columns
SHRINK_ORDER = ("customer", "id", "step")  # which columns give way first when the row does not fit
GROWS = "step"
# The sort a click on a column header chooses (the age column toggles newest and oldest).
SORT_OF_COLUMN = {"id": SortMode.ID, "customer": SortMode.CUSTOMER, "total": SortMode.TOTAL, "status": SortMode.STATUS}
# Per sort: its column and arrow (↑: the shown values ascend down the table).
ARROW_OF_SORT = {
    SortMode.NEWEST: ("age", "↑"),
    SortMode.OLDEST: ("age", "↓"),
    SortMode.STATUS: ("status", "↑"),
    SortMode.TOTAL: ("total", "↓"),
    SortMode.ID: ("id", "↑"),
    SortMode.CUSTOMER: ("customer", "↑"),
}


def fit_widths(natural: list[int], available: int) -> list[int]:
    """Column widths for `available` cells of content: the flexible columns shrink (customer first,
    then id, then step / reason) towards their floors until the row fits; the step / reason column
    takes what is left over, up to its widest."""
    widths = list(natural)
    over = sum(widths) - available
    for key in SHRINK_ORDER:
        if over <= 0:
            break
        index = KEYS.index(key)
        give = min(over, widths[index] - COLUMNS[index].floor)
        if give > 0:
            widths[index] -= give
            over -= give
    grows = KEYS.index(GROWS)
    if over < 0:
        widths[grows] += min(-over, COLUMNS[grows].widest - widths[grows])
    return widths


_KIND_STYLE = {
    EventKind.STARTED: "yellow",
    EventKind.SUCCEEDED: "green",
    EventKind.FAILED: "bold red",
    EventKind.COMPENSATING: "magenta",
    EventKind.COMPENSATED: "cyan",
    EventKind.PAUSED: "bold yellow",
    EventKind.RELEASED: "yellow",
}


def _step_cell(row: OrderRow) -> Cell:
    if row.status.is_terminal:
        if row.reason:
            return Cell(row.reason.value, "")
        if row.status is OrderStatus.TERMINATED:
            return Cell("terminated", "red")
        if row.status is OrderStatus.FAILED:  # no reason of the saga's: why Temporal says it failed
            return Cell(row.last_error or "failed", "red")
        if row.note:
            return Cell(row.note, "yellow")
        return Cell("—", "dim")
    if not row.step:
        return Cell("…", "dim")
    if row.paused:
        return Cell(f"before {row.step}", "bold yellow")
    return Cell(row.step, _KIND_STYLE.get(row.step_kind, "") if row.step_kind else "")


def _age_cell(row: OrderRow, now: datetime) -> Cell:
    return Cell(duration(row.age_seconds(now)), right=True)


def cells(row: OrderRow, now: datetime) -> list[Cell]:
    return [
        Cell(row.order_id, is_id=True),
        Cell(row.customer_id or "—"),
        Cell(money(row.total_cents), right=True),
        PAUSED_CELL if row.paused else status_cell(row.status),
        _step_cell(row),
        Cell(str(row.attempts) if row.attempts else "", "bold magenta" if row.attempts > 1 else "", right=True),
        _age_cell(row, now),
    ]


class OrdersTable(ScrollView, can_focus=True):
    """Shows the order book through a status filter, a text filter and a sort order."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("enter", "choose", "Detail", show=False),
    ]
    COMPONENT_CLASSES = {"orders-table--header", "orders-table--cursor"}
    DEFAULT_CSS = """
    OrdersTable {
        height: 1fr;
        scrollbar-size-vertical: 1;
        background: $surface;
        color: $foreground;
        & > .orders-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .orders-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .orders-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    def __init__(self, book: OrderBook, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.book = book
        self.status_filter = StatusFilter.ALL
        self.text_filter = ""
        self.sort_mode = SortMode.NEWEST
        self.selected: str | None = None
        self.cursor_row = 0
        self._order: list[str] = []  # the shown order ids, top to bottom
        self._sort_key = book.sort_key(self.sort_mode)
        self._keys: dict[str, tuple[float | str, ...]] = {}  # each shown row's sort key, kept up to date
        self._cells: dict[str, list[Cell]] = {}
        self._strips: dict[str, Strip] = {}  # rendered rows, without the cursor
        self._strips_base: Style | None = None
        self._natural = [column.width for column in COLUMNS]  # each column's widest value, within its bounds
        self._widths = list(self._natural)

    # --- what the app calls -----------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

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
        self.refresh()

    def tick_ages(self) -> None:
        """Once a second: the age of the orders in view (a row is drawn again only when its age reads
        differently). Rows out of view get theirs when they are drawn: with thousands of orders in the
        book, going through all of them every second would cost more than the screen."""
        now = self.book.clock()
        top = self.scroll_offset.y
        for order_id in self._order[top : top + self._visible_rows()]:
            self._set(order_id, AGE, _age_cell(self.book.orders[order_id], now))
        self.refresh()

    def set_filter(self, status: StatusFilter | None = None, text: str | None = None) -> None:
        if status is not None:
            self.status_filter = status
        if text is not None:
            self.text_filter = text
        now = self.book.clock()
        for order_id in [shown for shown in self._order if shown not in self.book.orders]:
            self._remove(order_id)
        for order_id in list(self.book.orders):
            self._show(order_id, now)
        self._resort()

    def set_sort(self, mode: SortMode) -> None:
        self.sort_mode = mode
        self._sort_key = self.book.sort_key(mode)
        self._keys = {order_id: self._sort_key(order_id) for order_id in self._order}
        self._resort()  # the header's arrow too

    def select_order(self, order_id: str) -> bool:
        """Put the cursor on `order_id` if it is shown."""
        if order_id not in self._cells:
            return False
        self._move_cursor(self._order.index(order_id))
        return True

    def order_at(self, index: int) -> str:
        """The id of the order shown at row `index` (0 is the top)."""
        return self._order[index]

    def shown_ids(self) -> list[str]:
        """The ids shown, top to bottom (as filtered and sorted)."""
        return list(self._order)

    def shown(self, order_id: str) -> bool:
        return order_id in self._cells

    def cell_text(self, order_id: str, column: str) -> str:
        return self._cells[order_id][KEYS.index(column)].plain

    # --- keys and mouse -------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self._move_cursor(self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self._move_cursor(self.cursor_row + direction * max(1, self._visible_rows() - 1))

    def action_cursor_to(self, index: int) -> None:
        self._move_cursor(index if index >= 0 else self.row_count - 1)

    def action_choose(self) -> None:
        if self.selected is not None:
            self.post_message(OrderChosen(self.selected))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            self._header_clicked(self.scroll_offset.x + offset.x)
            return
        index = self.scroll_offset.y + offset.y - 1
        if index >= self.row_count:
            return
        if index == self.cursor_row:
            self.action_choose()
        else:
            self._move_cursor(index)

    def _header_clicked(self, x: int) -> None:
        left = 1
        for column, width in zip(COLUMNS, self._widths, strict=True):
            if left <= x < left + width + GAP:
                if column.key == "age":
                    mode = SortMode.OLDEST if self.sort_mode is SortMode.NEWEST else SortMode.NEWEST
                else:
                    mode = SORT_OF_COLUMN.get(column.key, self.sort_mode)
                if mode is not self.sort_mode:
                    self.post_message(SortChosen(mode))
                return
            left += width + GAP

    # --- drawing ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        if y == 0:
            strip = self._header()
        else:
            index = scroll_y + y - 1
            if index >= self.row_count:
                if index == 0:  # nothing shown: say why
                    empty = "  no matching orders" if self.book.orders else "  no orders yet: n submits one"
                    return Strip([Segment(fit(empty, self.size.width), base + Style(dim=True))])
                return Strip.blank(self.size.width, base)
            order_id = self._order[index]
            self._set(order_id, AGE, _age_cell(self.book.orders[order_id], self.book.clock()))  # as of now
            strip = self._row_strip(order_id, base)
            if index == self.cursor_row:  # the cursor's colours over the cells' own
                cursor = self.get_component_rich_style("orders-table--cursor")
                strip = Strip(Segment.apply_style(strip, post_style=cursor), strip.cell_length)
        return strip.crop_extend(scroll_x, scroll_x + self.size.width, base)

    def _header(self) -> Strip:
        style = self.get_component_rich_style("orders-table--header")
        sorted_key, arrow = ARROW_OF_SORT[self.sort_mode]
        labels = [
            fit(column.label, width - 2).rstrip() + " " + arrow if column.key == sorted_key else column.label
            for column, width in zip(COLUMNS, self._widths, strict=True)
        ]
        text = " " + (" " * GAP).join(fit(label, width) for label, width in zip(labels, self._widths, strict=True))
        return Strip([Segment(fit(text, self._line_width()), style)])

    def _row_strip(self, order_id: str, base: Style) -> Strip:
        """`base` is the table's own style: it changes with focus and theme, and then every row is drawn again."""
        if base != self._strips_base:
            self._strips.clear()
            self._strips_base = base
        strip = self._strips.get(order_id)
        if strip is None:
            segments = [Segment(" ", base)]
            for cell, width in zip(self._cells[order_id], self._widths, strict=True):
                style = cached_style(cell.style)
                shown = fit_id(cell.plain, width) if cell.is_id else fit(cell.plain, width, right=cell.right)
                segments.append(Segment(shown, base + style if style else base))
                segments.append(Segment(" " * GAP, base))
            strip = self._strips[order_id] = Strip(segments).extend_cell_length(self._line_width(), base)
        return strip

    def _line_width(self) -> int:
        return 1 + sum(self._widths) + GAP * len(self._widths)

    # --- inside -------------------------------------------------------------------------

    def _show(self, order_id: str, now: datetime) -> bool:
        """Add, update or remove one row according to the filters; True when rows came or went."""
        row = self.book.orders.get(order_id)
        wanted = row is not None and self.book.matches(order_id, self.status_filter, self.text_filter)
        present = order_id in self._cells
        if not wanted:
            return self._remove(order_id) if present else False
        assert row is not None
        values = cells(row, now)
        self._keys[order_id] = self._sort_key(order_id)
        if present:
            for column, value in enumerate(values):
                self._set(order_id, column, value)
            return False
        self._cells[order_id] = values
        self._order.append(order_id)
        self._widen(values)
        return True

    def _set(self, order_id: str, column: int, value: Cell) -> None:
        row = self._cells[order_id]
        if row[column] != value:
            row[column] = value
            self._strips.pop(order_id, None)
            self._widen(row)

    def _widen(self, values: list[Cell]) -> None:
        """Grow a column's natural width to a wider value (up to its widest); then fit the row again."""
        grown = False
        for column, (cell, spec) in enumerate(zip(values, COLUMNS, strict=True)):
            width = cell_len(cell.plain)
            if self._natural[column] < width and self._natural[column] < spec.widest:
                self._natural[column] = min(spec.widest, width)
                grown = True
        if grown:
            self._fit_columns()

    def _fit_columns(self) -> None:
        """Fit the columns to the width shown (a vertical scrollbar's column kept free): no sideways scrolling."""
        shown = self.size.width - self.styles.scrollbar_size_vertical
        available = shown - 1 - GAP * len(COLUMNS) if shown > 0 else sum(self._natural)
        widths = fit_widths(self._natural, available)
        if widths != self._widths:
            self._widths = widths
            self._strips.clear()
            self._sync_size()
            self.refresh()

    def on_resize(self, _: events.Resize) -> None:
        self._fit_columns()

    def _sync_size(self) -> None:
        size = Size(self._line_width(), self.row_count + 1)  # + the header
        if self.virtual_size == size:
            return
        if size.width != self.virtual_size.width:
            self.virtual_size = size  # the columns changed: a layout
            return
        # Only the row count changed: the scrollbar follows and nothing else on the screen moves,
        # as Textual itself updates a size without a layout. A layout of the whole screen for every
        # batch of new orders cost more than drawing the table (a scrollbar appearing still lays out).
        self.set_reactive(OrdersTable.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def _remove(self, order_id: str) -> bool:
        if order_id not in self._cells:
            return False
        del self._cells[order_id]
        del self._keys[order_id]
        self._strips.pop(order_id, None)
        self._order.remove(order_id)
        return True

    def _resort(self) -> None:
        self._order.sort(key=self._keys.__getitem__)  # keys computed when rows change, not at every sort
        self._sync_size()
        if self.selected in self._cells:
            self.cursor_row = self._order.index(self.selected)
        self._move_cursor(self.cursor_row, scroll=False)
        self.refresh()

    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _move_cursor(self, index: int, *, scroll: bool = True) -> None:
        self.cursor_row = max(0, min(index, self.row_count - 1))
        if scroll and self.row_count:
            top, height = self.scroll_offset.y, self._visible_rows()
            if self.cursor_row < top:
                self.scroll_to(y=self.cursor_row, animate=False)
            elif self.cursor_row >= top + height:
                self.scroll_to(y=self.cursor_row - height + 1, animate=False)
        self.refresh()
        current = self._order[self.cursor_row] if self.row_count else None
        if current != self.selected:
            self.selected = current
            self.post_message(OrderSelected(current))
