"""Fault injection per service endpoint: error rate, decline rate, latency, lost replies, down; presets; reset;
and the paused steps, a button each to pause or resume one (`checkout pause` / `resume`).

A grid of fields: the arrow keys move between them, Enter (or leaving a changed field)
applies the row, the down box applies at once. Only forward steps can be declined, so
refund and restock have no decline field. A latency above the request timeout is called
out: such calls time out and are retried, and the orders end `retries_exhausted`.
"""

from __future__ import annotations

from pydantic import ValidationError
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Static

from engine.errors import first_validation_error
from engine.models import DEFAULT_RELEASE_RATE, PAUSABLE_STEPS, FaultSettings, ServiceName, Step, StepPause
from tui.messages import CellMove, FaultChanged, PauseToggled, PresetChosen, ResetRequested
from tui.presets import PRESETS
from tui.widgets.grid_input import GridInput

FIELDS = ("error_rate", "decline_rate", "latency_ms", "jitter_ms", "lost_reply_rate")
HEADINGS = ("error", "decl", "lat ms", "jitter", "lost")  # of FIELDS: narrow, so the grid fits beside the table
EDIT_HINT = "rates 0..1, latency in ms · arrows move, Enter applies, space toggles down"


def _shown(value: float | int) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _in_ms(field: str) -> bool:
    """Milliseconds (up to 60000) take a wider column than rates."""
    return field.endswith("_ms")


def _offered(service: ServiceName, field: str) -> bool:
    return field != "decline_rate" or service.endpoint.decline is not None


class FaultsPanel(VerticalScroll):
    DEFAULT_CSS = """
    FaultsPanel { height: 1fr; padding: 0 1; }
    FaultsPanel .fault-row { height: 1; width: 1fr; }
    FaultsPanel .fault-row > Label { width: 10; }
    FaultsPanel .fault-row > Input, FaultsPanel .fault-row > .no-field { width: 5; margin-right: 1; }
    FaultsPanel .fault-row > Input.ms { width: 6; }
    FaultsPanel .fault-row > .no-field { color: $text-disabled; }
    FaultsPanel .fault-row > Input:focus, FaultsPanel .fault-row > Checkbox:focus {
        background: $accent; color: $text; text-style: bold;
    }
    FaultsPanel .fault-row > Input.-active { text-style: bold; color: $warning; }
    FaultsPanel .fault-row > Checkbox { width: auto; height: 1; }
    FaultsPanel .fault-row > Checkbox.-on { color: $error; text-style: bold; }
    FaultsPanel .fault-head { height: 1; color: $text-muted; text-style: bold; }
    FaultsPanel .fault-head > Label { width: 10; }
    FaultsPanel .fault-head > .col { width: 6; }
    FaultsPanel .fault-head > .col.ms { width: 7; }
    FaultsPanel #presets { height: 1; margin-top: 1; width: 1fr; }
    FaultsPanel #presets > Button { margin-right: 1; }
    FaultsPanel #presets > Button:focus { text-style: bold reverse; }
    FaultsPanel #latency-warning { color: $warning; height: auto; }
    FaultsPanel #faults-hint { color: $text-muted; height: auto; }
    FaultsPanel #faults-disallowed { color: $warning; height: auto; }
    FaultsPanel #pauses { height: 1; margin-top: 1; width: 1fr; }
    FaultsPanel #pauses > Button { margin-right: 1; }
    FaultsPanel #pauses > Button:focus { text-style: bold reverse; }
    FaultsPanel #paused-steps { height: auto; }
    """

    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
    ]

    def __init__(self, *, request_timeout_seconds: float = 2.0, read_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.request_timeout_ms = int(request_timeout_seconds * 1000)
        self.read_only = read_only  # the settings in force are shown, every field disabled, no presets
        self.current: dict[ServiceName, FaultSettings] = {}  # as the operator set them, sent or on their way
        self.in_force: dict[ServiceName, FaultSettings] = {}  # as last read from the services
        self._dirty: set[str] = set()
        self._inputs: dict[tuple[ServiceName, str], Input] = {}
        self._down: dict[ServiceName, Checkbox] = {}
        self._grid: list[list[Widget | None]] = []  # rows of cells: the fields, then the down box
        self._last_cell: Widget | None = None
        self.pauses: dict[Step, StepPause] = {}  # as last read
        self._pauses_shown = False

    def compose(self) -> ComposeResult:
        self._disallowed = Static("", id="faults-disallowed")
        yield self._disallowed
        with Horizontal(classes="fault-head"):
            yield Label("endpoint")
            for field, heading in zip(FIELDS, HEADINGS, strict=True):
                yield Label(heading, classes="col ms" if _in_ms(field) else "col")
        for service in ServiceName:
            row: list[Widget | None] = []
            with Horizontal(classes="fault-row", id=f"row-{service.value}"):
                yield Label(service.value)
                for field in FIELDS:
                    if not _offered(service, field):
                        yield Label("—", classes="no-field")
                        row.append(None)
                        continue
                    cell = GridInput(
                        "0",
                        id=f"{service.value}-{field}",
                        compact=True,
                        select_on_focus=True,
                        tooltip=f"{service.value} {field}: Enter applies",
                        disabled=self.read_only,
                        classes="ms" if _in_ms(field) else "",
                    )
                    self._inputs[service, field] = cell
                    row.append(cell)
                    yield cell
                down = Checkbox(
                    "up",
                    False,
                    id=f"{service.value}-down",
                    compact=True,
                    tooltip=f"{service.value}: no replies at all",
                    disabled=self.read_only,
                )
                self._down[service] = down
                row.append(down)
                yield down
            self._grid.append(row)
        if not self.read_only:
            with Horizontal(id="presets"):
                for index, name in enumerate(PRESETS):
                    yield Button(name, id=f"preset-{index}", compact=True, variant="warning")
                yield Button("reset all", id="reset-faults", compact=True, variant="success")
        if not self.read_only:
            with Horizontal(id="pauses"):
                for step in PAUSABLE_STEPS:
                    yield Button(
                        f"pause {step.value}",
                        id=f"pause-{step.value}",
                        compact=True,
                        variant="warning",
                        tooltip=f"orders wait before {step.value}; again: resume, {DEFAULT_RELEASE_RATE:g}/s",
                    )
        self._paused_line = Static("no step paused", id="paused-steps")
        yield self._paused_line
        self._warning = Static("", id="latency-warning")
        yield self._warning
        hint = "read-only: the faults in force, not changed here" if self.read_only else EDIT_HINT
        yield Label(hint, id="faults-hint")

    # --- the app pushes the live settings here ----------------------------------------------

    def show(self, faults: dict[ServiceName, FaultSettings]) -> None:
        """The settings in force (read from the services): every field not being edited shows them."""
        for service, settings in faults.items():
            self.current[service] = settings
            self.in_force[service] = settings
            for field in FIELDS:
                widget = self._inputs.get((service, field))
                if widget is None or widget.has_focus or widget.id in self._dirty:
                    continue
                value = _shown(getattr(settings, field))
                if widget.value != value:
                    with widget.prevent(Input.Changed):
                        widget.value = value
                widget.set_class(bool(getattr(settings, field)), "-active")
            down = self._down[service]
            if down.value != settings.down:
                with down.prevent(Checkbox.Changed):
                    down.value = settings.down
            self._show_down(down)
        self._warn_about_latency()

    def show_pauses(self, pauses: dict[Step, StepPause]) -> None:
        """The paused steps in force: the line that names them, each button's label."""
        if self._pauses_shown and pauses == self.pauses:
            return
        self.pauses, self._pauses_shown = dict(pauses), True
        if pauses:
            parts = [
                f"⏸ {step.value} PAUSED" + (f" ({pause.reason})" if pause.reason else "")
                for step, pause in pauses.items()
            ]
            self._paused_line.update(Text("  ".join(parts), style="bold yellow"))
        else:
            self._paused_line.update(Text("no step paused", style="dim"))
        for step in PAUSABLE_STEPS:
            for button in self.query(f"#pause-{step.value}").results(Button):
                label = f"resume {step.value}" if step in pauses else f"pause {step.value}"
                if str(button.label) != label:
                    button.label = label
                    button.variant = "success" if step in pauses else "warning"

    def disallow(self, reason: str | None) -> None:
        """The services do not allow fault injection (`reason`, one line): say so, and offer no field."""
        if self._disallowed.display != bool(reason):
            self._disallowed.update(Text(reason or ""))
            self._disallowed.display = bool(reason)
            for part in self.query(".fault-row, #presets"):
                part.disabled = bool(reason)

    def restore(self, service: ServiceName) -> None:
        """A refused value goes: the row shows the settings in force again."""
        settings = self.in_force.get(service, FaultSettings())
        self.current[service] = settings
        for field in FIELDS:
            widget = self._inputs.get((service, field))
            if widget is None:
                continue
            self._dirty.discard(widget.id or "")
            with widget.prevent(Input.Changed):
                widget.value = _shown(getattr(settings, field))
        down = self._down[service]
        with down.prevent(Checkbox.Changed):
            down.value = settings.down
        self._show_down(down)

    def focus_grid(self) -> None:
        """Into the grid: the field focused last, else the first one."""
        focused = self.screen.focused
        if focused is not None and self in focused.ancestors:
            return
        cell = self._last_cell or self._grid[0][0]
        if cell is not None:
            cell.focus()

    def on_mount(self) -> None:
        self._warning.display = False
        self._disallowed.display = False

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if any(event.widget in row for row in self._grid):
            self._last_cell = event.widget

    def settings_from_inputs(self, service: ServiceName) -> FaultSettings:
        """The row's values as FaultSettings; raises ValueError with a one-line message."""
        values: dict[str, object] = {"down": self._down[service].value}
        for field in FIELDS:
            widget = self._inputs.get((service, field))
            raw = (widget.value.strip() if widget is not None else "") or "0"
            try:
                values[field] = int(raw) if field.endswith("_ms") else float(raw)
            except ValueError:
                raise ValueError(f"{service.value} {field}: {raw!r} is not a number") from None
        try:
            return FaultSettings.model_validate(values)
        except ValidationError as error:
            raise ValueError(f"{service.value} {first_validation_error(error)}") from None

    # --- inside -------------------------------------------------------------------------

    def _apply_row(self, service: ServiceName) -> None:
        if self.read_only:
            self.restore(service)
            return
        try:
            settings = self.settings_from_inputs(service)
        except ValueError as error:
            self.notify(str(error), title="Bad fault value", severity="error", markup=False)
            self.restore(service)
            return
        for field in FIELDS:
            self._dirty.discard(f"{service.value}-{field}")
        if settings != self.current.get(service):
            self.current[service] = settings
            self.post_message(FaultChanged(service, settings))
        self._warn_about_latency()

    def _warn_about_latency(self) -> None:
        slow = [
            f"{service.value} {settings.latency_ms + settings.jitter_ms} ms"
            for service, settings in self.current.items()
            if settings.latency_ms + settings.jitter_ms >= self.request_timeout_ms
        ]
        warning = self._warning
        if slow:
            timeout = self.request_timeout_ms / 1000
            warning.update(
                Text(
                    f"⚠ latency {', '.join(slow)} reaches the {timeout:g} s request timeout "
                    "(nats.request_timeout_seconds): those calls time out and are retried, "
                    "and the orders end retries_exhausted",
                )
            )
        warning.display = bool(slow)

    def action_move(self, rows: int, columns: int) -> None:
        focused = self.screen.focused
        if focused is not None:
            self._move_from(focused, rows, columns)

    @on(CellMove)
    def _cell_move(self, message: CellMove) -> None:
        message.stop()
        self._move_from(message.cell, message.rows, message.columns)

    def _move_from(self, cell: Widget, rows: int, columns: int) -> None:
        where = next(
            ((r, c) for r, row in enumerate(self._grid) for c, widget in enumerate(row) if widget is cell), None
        )
        if where is None:
            return
        row, column = where
        while True:
            row, column = row + rows, column + columns
            if not (0 <= row < len(self._grid) and 0 <= column < len(self._grid[row])):
                return
            target = self._grid[row][column]
            if target is not None:
                target.focus()
                return

    @staticmethod
    def _service_of(widget_id: str | None) -> ServiceName | None:
        name = (widget_id or "").split("-", 1)[0]
        try:
            return ServiceName(name)
        except ValueError:
            return None

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id and event.input.has_focus:  # typed by the operator, not set by a refresh
            self._dirty.add(event.input.id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        service = self._service_of(event.input.id)
        if service is not None:
            self._apply_row(service)

    def on_input_blurred(self, event: Input.Blurred) -> None:
        event.stop()
        service = self._service_of(event.input.id)
        if service is not None and event.input.id in self._dirty:
            self._apply_row(service)

    @staticmethod
    def _show_down(box: Checkbox) -> None:
        box.set_class(box.value, "-on")
        label = "DOWN" if box.value else "up"
        if str(box.label) != label:  # a new label re-lays out the screen: only when it changes
            box.label = label

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._show_down(event.checkbox)
        service = self._service_of(event.checkbox.id)
        if service is not None:
            self._apply_row(service)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.read_only:
            return
        if event.button.id == "reset-faults":
            self.post_message(ResetRequested())
        elif event.button.id and event.button.id.startswith("pause-"):
            step = Step(event.button.id.removeprefix("pause-"))
            self.post_message(PauseToggled(step, pause=step not in self.pauses))
        elif event.button.id and event.button.id.startswith("preset-"):
            name = list(PRESETS)[int(event.button.id.removeprefix("preset-"))]
            self.post_message(PresetChosen(name))
