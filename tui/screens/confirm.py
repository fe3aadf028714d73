"""Yes/no confirmation; the unsafe variant (terminate) is red, defaults to "keep" and has no shortcut.

With `live`, a line under the message is read again four times a second (e.g. a countdown),
and when it says the action is no longer possible the confirm button goes grey. With
`must_type` (a text, or a function read as often as `live`), the operator types that text
before the action can be confirmed, as the Temporal tools ask for an order id.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > #dialog {
        width: 60; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ConfirmScreen.-unsafe > #dialog { border: thick $error; }
    ConfirmScreen #message { margin: 1 0 0 0; height: auto; }
    ConfirmScreen #live { margin: 1 0 0 0; height: auto; text-style: bold; color: $warning; }
    ConfirmScreen #buttons { margin-top: 1; }
    ConfirmScreen.-unsafe #warning { color: $error; text-style: bold; height: auto; }
    ConfirmScreen #typed-hint { margin: 1 0 0 0; height: auto; }
    ConfirmScreen #typed { margin: 0; }
    ConfirmScreen #buttons { height: 1; align-horizontal: right; }
    ConfirmScreen #buttons > Button { margin-left: 2; }
    """

    BINDINGS = [
        Binding("escape", "answer(False)", "Keep", id="dialog.close", tooltip="Close without doing anything"),
        Binding("y", "answer_yes", "Yes", id="dialog.yes", tooltip="Confirm (not for unsafe actions)"),
        Binding("n", "answer(False)", "No", id="dialog.no", show=False),
    ]

    def __init__(
        self,
        title: str,
        body: str,
        *,
        confirm: str = "Yes",
        keep: str = "No",
        unsafe: bool = False,
        live: Callable[[], tuple[str, bool]] | None = None,
        must_type: str | Callable[[], str | None] | None = None,
    ) -> None:
        """`live()` answers (a line to show, whether the action is still possible); `must_type`
        is the text to type first (a function: None while no typing is asked)."""
        super().__init__(classes="-unsafe" if unsafe else "")
        self.title_text = title
        self.body = body
        self.confirm_label = confirm
        self.keep_label = keep
        self.unsafe = unsafe
        self.live = live
        self.must_type = must_type
        self._still_possible = True

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = self.title_text
            if self.unsafe:
                yield Static("⚠ UNSAFE: no compensation runs. Money and stock may be lost.", id="warning")
            yield Static(self.body, id="message")
            yield Static("", id="live")
            yield Static("", id="typed-hint")
            yield Input("", id="typed", compact=True)
            with Horizontal(id="buttons"):
                yield Button(self.keep_label, id="keep", compact=True)
                yield Button(
                    self.confirm_label, id="confirm", variant="error" if self.unsafe else "warning", compact=True
                )

    def on_mount(self) -> None:
        self.query_one("#keep" if self.unsafe else "#confirm", Button).focus()
        self.query_one("#live").display = self.live is not None
        self.query_one("#typed-hint").display = self.query_one("#typed").display = False  # until asked
        self._show_live()
        if self.live is not None or callable(self.must_type):
            self.set_interval(0.25, self._show_live)

    @property
    def possible(self) -> bool:
        return not self.query_one("#confirm", Button).disabled

    @property
    def expected(self) -> str | None:
        """The text to type before confirming, if any (now)."""
        return self.must_type() if callable(self.must_type) else self.must_type

    @property
    def typed_right(self) -> bool:
        expected = self.expected
        return expected is None or self.query_one("#typed", Input).value.strip() == expected

    def _show_live(self) -> None:
        if self.live is not None:
            line, self._still_possible = self.live()
            self.query_one("#live", Static).update(line)
        self._show_typing()
        self._enable_confirm()

    def _show_typing(self) -> None:
        expected = self.expected
        hint, typed = self.query_one("#typed-hint", Static), self.query_one("#typed", Input)
        asked = expected is not None
        if typed.display != asked:
            hint.display = typed.display = asked
            if asked:
                typed.focus()
        if asked:
            hint.update(f"Type {expected} to confirm:")

    def _enable_confirm(self) -> None:
        possible = self._still_possible and self.typed_right
        confirm = self.query_one("#confirm", Button)
        if confirm.disabled == possible:
            confirm.disabled = not possible
            if not self._still_possible:
                self.query_one("#keep", Button).focus()

    @on(Input.Changed, "#typed")
    def _typed(self) -> None:
        self._enable_confirm()

    @on(Input.Submitted, "#typed")
    def _typed_and_entered(self) -> None:
        if self.possible:
            self.dismiss(True)

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        if self.possible:  # a click on a button just greyed out does nothing
            self.dismiss(True)

    @on(Button.Pressed, "#keep")
    def _keep(self) -> None:
        self.dismiss(False)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def action_answer_yes(self) -> None:
        if not self.unsafe and self.expected is None and self.possible:
            self.dismiss(True)


class QuitScreen(ConfirmScreen):
    """Quitting with orders in flight: how many, and what becomes of them. q again quits."""

    BINDINGS = [Binding("q", "answer(True)", "Quit", id="dialog.quit", show=False)]

    def __init__(self, in_flight: int, after: str) -> None:
        orders = "1 order" if in_flight == 1 else f"{in_flight} orders"
        super().__init__(f"Quit with {orders} in flight?", after, confirm="Quit", keep="Stay")
        self.in_flight = in_flight
