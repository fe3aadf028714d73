"""Fault injection per service endpoint: error rate, decline rate, latency, down; presets; reset."""

from __future__ import annotations

from pydantic import ValidationError
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label

from engine.errors import first_validation_error
from engine.models import FaultSettings, ServiceName
from tui.messages import FaultChanged, PresetChosen, ResetRequested
from tui.presets import PRESETS

FIELDS = ("error_rate", "decline_rate", "latency_ms", "jitter_ms")
HEADINGS = ("error", "decline", "lat ms", "jitter")


def _shown(value: float | int) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class FaultsPanel(VerticalScroll):
    DEFAULT_CSS = """
    FaultsPanel { height: 1fr; padding: 0 1; }
    FaultsPanel .fault-row { height: 1; width: 1fr; }
    FaultsPanel .fault-row > Label { width: 10; }
    FaultsPanel .fault-row > Input { width: 9; margin-right: 1; }
    FaultsPanel .fault-row > Input.-invalid { color: $error; }
    FaultsPanel .fault-row > Input.-active { text-style: bold; color: $warning; }
    FaultsPanel .fault-row > Checkbox { width: auto; height: 1; }
    FaultsPanel .fault-row > Checkbox.-on { color: $error; text-style: bold; }
    FaultsPanel .fault-head { height: 1; color: $text-muted; text-style: bold; }
    FaultsPanel .fault-head > Label { width: 10; margin-right: 0; }
    FaultsPanel .fault-head > .col { width: 10; }
    FaultsPanel #presets { height: 1; margin-top: 1; width: 1fr; }
    FaultsPanel #presets > Button { margin-right: 1; }
    FaultsPanel #faults-hint { color: $text-muted; height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current: dict[ServiceName, FaultSettings] = {}  # as the operator set them, sent or on their way
        self.in_force: dict[ServiceName, FaultSettings] = {}  # as last read from the services
        self._dirty: set[str] = set()
        self._inputs: dict[tuple[ServiceName, str], Input] = {}
        self._down: dict[ServiceName, Checkbox] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(classes="fault-head"):
            yield Label("service")
            for heading in HEADINGS:
                yield Label(heading, classes="col")
        for service in ServiceName:
            with Horizontal(classes="fault-row", id=f"row-{service.value}"):
                yield Label(service.value)
                for field in FIELDS:
                    self._inputs[service, field] = Input(
                        "0",
                        id=f"{service.value}-{field}",
                        compact=True,
                        select_on_focus=True,
                        tooltip=f"{service.value} {field}: Enter to apply",
                    )
                    yield self._inputs[service, field]
                self._down[service] = Checkbox(
                    "up", False, id=f"{service.value}-down", compact=True, tooltip=f"{service.value}: no replies at all"
                )
                yield self._down[service]
        with Horizontal(id="presets"):
            for index, name in enumerate(PRESETS):
                yield Button(name, id=f"preset-{index}", compact=True, variant="warning")
            yield Button("reset all", id="reset-faults", compact=True, variant="success")
        yield Label("rates 0..1, latency in ms; Enter applies a value", id="faults-hint")

    # --- the app pushes the live settings here ----------------------------------------------

    def show(self, faults: dict[ServiceName, FaultSettings]) -> None:
        """The settings in force (read from the services): every field not being edited shows them."""
        for service, settings in faults.items():
            self.current[service] = settings
            self.in_force[service] = settings
            for field in FIELDS:
                widget = self._inputs[service, field]
                if widget.has_focus or widget.id in self._dirty:
                    continue
                value = _shown(getattr(settings, field))
                if widget.value != value:
                    with widget.prevent(Input.Changed):
                        widget.value = value
                widget.set_class(bool(getattr(settings, field)), "-active")
                widget.remove_class("-invalid")
            down = self._down[service]
            if down.value != settings.down:
                with down.prevent(Checkbox.Changed):
                    down.value = settings.down
            self._show_down(down)

    def restore(self, service: ServiceName) -> None:
        """A refused value goes: the row shows the settings in force again."""
        settings = self.in_force.get(service, FaultSettings())
        self.current[service] = settings
        for field in FIELDS:
            widget = self._inputs[service, field]
            self._dirty.discard(widget.id or "")
            with widget.prevent(Input.Changed):
                widget.value = _shown(getattr(settings, field))
            widget.remove_class("-invalid")
        down = self._down[service]
        with down.prevent(Checkbox.Changed):
            down.value = settings.down
        self._show_down(down)

    def settings_from_inputs(self, service: ServiceName) -> FaultSettings:
        """The row's values as FaultSettings; raises ValueError with a one-line message."""
        values: dict[str, object] = {"down": self._down[service].value}
        for field in FIELDS:
            raw = self._inputs[service, field].value.strip() or "0"
            try:
                values[field] = int(raw) if field.endswith("_ms") else float(raw)
            except ValueError:
                raise ValueError(f"{service.value} {field}: {raw!r} is not a number") from None
        try:
            return FaultSettings.model_validate(values)
        except ValidationError as error:
            raise ValueError(f"{service.value} {first_validation_error(error)}") from None

    def _apply_row(self, service: ServiceName, input_id: str | None = None) -> None:
        try:
            settings = self.settings_from_inputs(service)
        except ValueError as error:
            self.notify(str(error), title="Bad fault value", severity="error", markup=False)
            self.restore(service)
            return
        for field in FIELDS:
            self._dirty.discard(f"{service.value}-{field}")
            self._inputs[service, field].remove_class("-invalid")
        if settings != self.current.get(service):
            self.current[service] = settings
            self.post_message(FaultChanged(service, settings))

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
            self._apply_row(service, event.input.id)

    def on_input_blurred(self, event: Input.Blurred) -> None:
        event.stop()
        service = self._service_of(event.input.id)
        if service is not None and event.input.id in self._dirty:
            self._apply_row(service, event.input.id)

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
        if event.button.id == "reset-faults":
            self.post_message(ResetRequested())
        elif event.button.id and event.button.id.startswith("preset-"):
            name = list(PRESETS)[int(event.button.id.removeprefix("preset-"))]
            self.post_message(PresetChosen(name))
