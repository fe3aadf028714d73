"""Yes/no confirmation; the unsafe variant (terminate) is red, defaults to "keep" and has no shortcut.

With `live`, a line under the message is read again four times a second (e.g. a countdown),
and when it says the action is no longer possible the confirm button goes grey.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


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
    ) -> None:
        """`live()` answers (a line to show, whether the action is still possible)."""
        super().__init__(classes="-unsafe" if unsafe else "")
        self.title_text = title
        self.body = body
        self.confirm_label = confirm
        self.keep_label = keep
        self.unsafe = unsafe
        self.live = live

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = self.title_text
            if self.unsafe:
                yield Static("⚠ UNSAFE: no compensation runs. Money and stock may be lost.", id="warning")
            yield Static(self.body, id="message")
            yield Static("", id="live")
            with Horizontal(id="buttons"):
                yield Button(self.keep_label, id="keep", compact=True)
                yield Button(
                    self.confirm_label, id="confirm", variant="error" if self.unsafe else "warning", compact=True
                )

    def on_mount(self) -> None:
        self.query_one("#keep" if self.unsafe else "#confirm", Button).focus()
        self.query_one("#live").display = self.live is not None
        if self.live is not None:
            self._show_live()
            self.set_interval(0.25, self._show_live)

    @property
    def possible(self) -> bool:
        return not self.query_one("#confirm", Button).disabled

    def _show_live(self) -> None:
        assert self.live is not None
        line, possible = self.live()
        self.query_one("#live", Static).update(line)
        confirm = self.query_one("#confirm", Button)
        if confirm.disabled == possible:
            confirm.disabled = not possible
            if not possible:
                self.query_one("#keep", Button).focus()

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#keep")
    def _keep(self) -> None:
        self.dismiss(False)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def action_answer_yes(self) -> None:
        if not self.unsafe and self.possible:
            self.dismiss(True)
