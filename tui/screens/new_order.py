"""The new order form: customer, SKU from the catalogue, quantity; invalid input is explained inline."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from engine.config import CatalogueItem
from engine.errors import CheckoutError
from engine.models import OrderInput
from tui.format import money

Submit = Callable[[OrderInput], Awaitable[None]]

# Which form field a pydantic error location belongs to.
FIELD_OF = {"order_id": "order-id", "customer_id": "customer", "sku": "sku", "quantity": "quantity", "items": "sku"}
LABEL_OF = {"order-id": "order id", "customer": "customer id", "sku": "SKU", "quantity": "quantity"}


CUSTOMER_HINT = "an id: ASCII letters, digits, - and _ (e.g. customer-1)"


def new_order_id() -> str:
    return secrets.token_hex(4)


def build_order(
    order_id: str, customer: str, sku: str | None, quantity: str, catalogue: dict[str, CatalogueItem]
) -> tuple[OrderInput | None, dict[str, str]]:
    """The order, or the problems keyed by form field (nothing is submitted unless there are none)."""
    problems: dict[str, str] = {}
    if not sku or sku not in catalogue:
        problems["sku"] = "choose a SKU from the catalogue"
    try:
        count = int(quantity.strip())
    except ValueError:
        problems["quantity"] = "a whole number, e.g. 1"
        count = 1
    price = catalogue[sku].price_cents if sku in catalogue else 0
    data = {
        "order_id": order_id.strip(),
        "customer_id": customer.strip(),
        "items": [{"sku": sku or "x", "quantity": count, "unit_price_cents": price}],
    }
    try:
        order = OrderInput.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            names = [str(part) for part in item.get("loc", ()) if isinstance(part, str)]
            field = next((FIELD_OF[name] for name in reversed(names) if name in FIELD_OF), "customer")
            message = item.get("msg", "invalid")
            if "pattern" in message:
                message = "1-64 ASCII letters, digits, '-' or '_'"
            problems.setdefault(field, message)
        return None, problems
    return (None, problems) if problems else (order, {})


class NewOrderScreen(ModalScreen[OrderInput | None]):
    """Dismisses with the submitted order, or None when closed without submitting."""

    DEFAULT_CSS = """
    NewOrderScreen { align: center middle; }
    NewOrderScreen > #dialog {
        width: 64; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    NewOrderScreen .field { height: 1; margin-top: 1; }
    NewOrderScreen .field > Label { width: 12; }
    NewOrderScreen .field > Input, NewOrderScreen .field > Select { width: 1fr; }
    NewOrderScreen .problem { color: $error; height: auto; padding-left: 12; }
    NewOrderScreen #total { margin-top: 1; color: $text-muted; }
    NewOrderScreen #buttons { height: 1; margin-top: 1; align-horizontal: right; }
    NewOrderScreen #buttons > Button { margin-left: 2; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close", id="dialog.close", tooltip="Close without submitting"),
    ]

    def __init__(self, catalogue: dict[str, CatalogueItem], submit: Submit, *, customer: str) -> None:
        super().__init__()
        self.catalogue = catalogue
        self.submit = submit
        self.customer = customer
        self.problems: dict[str, str] = {}
        self.submitted: OrderInput | None = None

    def compose(self) -> ComposeResult:
        options = [(f"{item.name} · {money(item.price_cents)}", sku) for sku, item in self.catalogue.items()]
        first = next(iter(self.catalogue), None)
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "New order"
            with Horizontal(classes="field"):
                yield Label("order id")
                yield Input(new_order_id(), id="order-id", compact=True)
            yield Label("", id="order-id-problem", classes="problem")
            with Horizontal(classes="field"):
                yield Label("customer id")
                yield Input(
                    self.customer, id="customer", compact=True, placeholder=CUSTOMER_HINT, tooltip=CUSTOMER_HINT
                )
            yield Label("", id="customer-problem", classes="problem")
            with Horizontal(classes="field"):
                yield Label("SKU")
                yield Select(options, value=first if first else Select.NULL, id="sku", compact=True)
            yield Label("", id="sku-problem", classes="problem")
            with Horizontal(classes="field"):
                yield Label("quantity")
                yield Input("1", id="quantity", compact=True)
            yield Label("", id="quantity-problem", classes="problem")
            yield Label("", id="total")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="close", compact=True)
                yield Button("Submit", id="submit", variant="primary", compact=True)

    def on_mount(self) -> None:
        self._show_problems({})
        self.query_one("#customer", Input).focus()
        self._show_total()

    def _values(self) -> tuple[str, str, str | None, str]:
        sku = self.query_one("#sku", Select).value
        return (
            self.query_one("#order-id", Input).value,
            self.query_one("#customer", Input).value,
            sku if isinstance(sku, str) else None,
            self.query_one("#quantity", Input).value,
        )

    def _show_problems(self, problems: dict[str, str]) -> None:
        self.problems = problems
        for field in LABEL_OF:
            label = self.query_one(f"#{field}-problem", Label)
            text = problems.get(field, "")
            label.update(f"↑ {text}" if text else "")
            label.display = bool(text)
            self.query_one(f"#{field}").set_class(bool(text), "-invalid")

    def _show_total(self) -> None:
        _, _, sku, quantity = self._values()
        try:
            count = int(quantity)
        except ValueError:
            count = 0
        if sku in self.catalogue and count > 0:
            item = self.catalogue[sku]
            text = f"{count} × {item.name} = {money(count * item.price_cents)}"
        else:
            text = ""
        self.query_one("#total", Label).update(text)

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self) -> None:
        self._show_total()
        if self.problems:
            _, problems = build_order(*self._values(), self.catalogue)
            self._show_problems(problems)

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        order, problems = build_order(*self._values(), self.catalogue)
        self._show_problems(problems)
        if order is None:
            return
        self.query_one("#submit", Button).disabled = True
        self._send(order)

    @work(exclusive=True, group="new-order", exit_on_error=False)
    async def _send(self, order: OrderInput) -> None:
        try:
            await self.submit(order)
        except CheckoutError as error:
            self.query_one("#submit", Button).disabled = False
            field = "order-id" if "id" in error.message.lower() and "order" in error.message.lower() else "customer"
            self._show_problems({field: error.message})
            self.notify(error.message, title=error.title, severity="error", markup=False)
            return
        self.submitted = order
        self.dismiss(order)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
