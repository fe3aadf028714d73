"""Set or add stock for one SKU: an audited operator change; bad input is explained in the form and nothing is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from engine.errors import CheckoutError
from engine.models import StockChange

ChangeStock = Callable[[str, str, int], Awaitable[StockChange]]  # (set or add, SKU, units)
MAX_UNITS = 1_000_000


def parse_units(mode: str, text: str) -> int:
    """Raises ValueError with a one-line message."""
    try:
        units = int(text.strip())
    except ValueError:
        raise ValueError("a whole number, e.g. 50" + (" (or -5 to remove)" if mode == "add" else "")) from None
    if mode == "set" and units < 0:
        raise ValueError("a level of 0 or more")
    if abs(units) > MAX_UNITS:
        raise ValueError(f"at most {MAX_UNITS:,} units")
    return units


class StockScreen(ModalScreen[StockChange | None]):
    """Dismisses with the change made, or None."""

    DEFAULT_CSS = """
    StockScreen { align: center middle; }
    StockScreen > #dialog {
        width: 60; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    StockScreen .field { height: 1; margin-top: 1; }
    StockScreen .field > Label { width: 10; }
    StockScreen .field > Input, StockScreen .field > Select { width: 1fr; }
    StockScreen #units-problem { color: $error; height: auto; padding-left: 10; }
    StockScreen #now { margin-top: 1; color: $text-muted; }
    StockScreen #buttons { height: 1; margin-top: 1; align-horizontal: right; }
    StockScreen #buttons > Button { margin-left: 2; }
    """

    BINDINGS = [Binding("escape", "close", "Close", id="dialog.close", tooltip="Close without changing stock")]

    def __init__(self, levels: dict[str, int], change: ChangeStock, *, sku: str | None = None) -> None:
        super().__init__()
        self.levels = levels
        self.change = change
        self.sku = sku if sku in levels else next(iter(levels), None)
        self.problem = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Stock"
            with Horizontal(classes="field"):
                yield Label("SKU")
                yield Select([(sku, sku) for sku in self.levels], value=self.sku or Select.NULL, id="sku", compact=True)
            with Horizontal(classes="field"):
                yield Label("change")
                yield Select([("add units", "add"), ("set the level", "set")], value="add", id="mode", compact=True)
            with Horizontal(classes="field"):
                yield Label("units")
                yield Input("", placeholder="e.g. 50", id="units", compact=True)
            yield Label("", id="units-problem")
            yield Label("", id="now")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="close", compact=True)
                yield Button("Apply", id="apply", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#units-problem").display = False
        self.query_one("#units", Input).focus()
        self._show_now()

    def _values(self) -> tuple[str | None, str, str]:
        sku, mode = self.query_one("#sku", Select).value, self.query_one("#mode", Select).value
        return (
            sku if isinstance(sku, str) else None,
            mode if isinstance(mode, str) else "add",
            self.query_one("#units", Input).value,
        )

    @on(Select.Changed)
    def _show_now(self) -> None:
        sku, _, _ = self._values()
        self.query_one("#now", Label).update(f"now {self.levels[sku]} units" if sku in self.levels else "")

    def _show_problem(self, problem: str) -> None:
        self.problem = problem
        label = self.query_one("#units-problem", Label)
        label.update(f"↑ {problem}" if problem else "")
        label.display = bool(problem)

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        sku, mode, text = self._values()
        if sku is None:
            self._show_problem("choose a SKU")
            return
        try:
            units = parse_units(mode, text)
        except ValueError as error:
            self._show_problem(str(error))
            return
        self._show_problem("")
        self.query_one("#apply", Button).disabled = True
        self._send(mode, sku, units)

    @work(exclusive=True, group="stock", exit_on_error=False)
    async def _send(self, mode: str, sku: str, units: int) -> None:
        try:
            change = await self.change(mode, sku, units)
        except CheckoutError as error:
            self.query_one("#apply", Button).disabled = False
            self._show_problem(error.message)
            return
        self.dismiss(change)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
