"""Export the orders the table shows: a file name (.csv or .json); a problem is explained in the form."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

Export = Callable[[Path], int]  # writes the file, returns how many orders; raises OSError


class ExportScreen(ModalScreen[tuple[Path, int] | None]):
    """Dismisses with (the file written, how many orders), or None."""

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > #dialog {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    ExportScreen .field { height: 1; margin-top: 1; }
    ExportScreen .field > Label { width: 6; }
    ExportScreen .field > Input { width: 1fr; }
    ExportScreen #path-problem { color: $error; height: auto; padding-left: 6; }
    ExportScreen #what { margin-top: 1; color: $text-muted; }
    ExportScreen #buttons { height: 1; margin-top: 1; align-horizontal: right; }
    ExportScreen #buttons > Button { margin-left: 2; }
    """

    BINDINGS = [Binding("escape", "close", "Close", id="dialog.close", tooltip="Close without exporting")]

    def __init__(self, export: Export, *, path: Path, shown: int) -> None:
        super().__init__()
        self.export = export
        self.path = path
        self.shown = shown

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Export orders"
            with Horizontal(classes="field"):
                yield Label("file")
                yield Input(str(self.path), id="path", compact=True)
            yield Label("", id="path-problem")
            yield Label(f"the {self.shown} orders the table shows, as filtered and sorted; .json or .csv", id="what")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="close", compact=True)
                yield Button("Export", id="export", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#path-problem").display = False
        self.query_one("#path", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        raw = self.query_one("#path", Input).value.strip()
        problem = self.query_one("#path-problem", Label)
        path = Path(raw).expanduser()
        if not raw or path.suffix.lower() not in (".csv", ".json"):
            problem.update("↑ a file name ending in .csv or .json")
            problem.display = True
            return
        try:
            count = self.export(path)
        except OSError as error:
            problem.update(f"↑ {error.strerror or error}: {path}")
            problem.display = True
            return
        self.dismiss((path, count))

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
