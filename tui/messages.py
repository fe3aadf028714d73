"""Every message the dashboard handles, in one place.

Workers post the results of their I/O as these messages; widgets post what the operator
asked for. The App routes them (see `tui/app.py`); handlers are bound with `@on(...)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from textual.message import Message
from textual.widget import Widget

from engine.errors import CheckoutError
from engine.models import (
    AuditReport,
    FaultSettings,
    Health,
    OrderSummary,
    SagaState,
    ServiceName,
    ServicesSnapshot,
    Step,
    StepEvent,
    StepPause,
)
from engine.scenarios.model import Scenario, ScenarioFile
from engine.scenarios.report import ScenarioReport
from tui.state import SortMode, StatusFilter

Severity = Literal["information", "warning", "error"]

# --- results of the dashboard's workers --------------------------------------------------


class StackStarted(Message):
    """The stack is up (or, attached, connected): the facade can be used."""


class StackFailed(Message):
    def __init__(self, error: CheckoutError) -> None:
        super().__init__()
        self.error = error


class HealthRead(Message):
    """One read of health: what answers (everything down when the read itself got no answer)."""

    def __init__(self, health: Health) -> None:
        super().__init__()
        self.health = health


class Refreshed(Message):
    """One read of services and faults; `None` where a read failed (see `problems`)."""

    def __init__(
        self,
        snapshot: ServicesSnapshot | None,
        faults: dict[ServiceName, FaultSettings] | None,
        problems: list[str],
        faults_disallowed: str | None = None,
        pauses: dict[Step, StepPause] | None = None,
    ) -> None:
        super().__init__()
        self.pauses = pauses  # the paused steps (None: not read)
        self.snapshot = snapshot
        self.faults = faults
        self.problems = problems
        self.faults_disallowed = faults_disallowed  # the services do not allow fault injection: why


class FailureExplained(Message):
    """Why an order FAILED (it has no saga reason: e.g. its input was invalid), as Temporal says."""

    def __init__(self, order_id: str, text: str) -> None:
        super().__init__()
        self.order_id = order_id
        self.text = text


class OrdersListed(Message):
    """The newest orders Temporal knows (`None`: the listing failed)."""

    def __init__(self, summaries: list[OrderSummary] | None, *, initial: bool) -> None:
        super().__init__()
        self.summaries = summaries
        self.initial = initial


class DetailLoaded(Message):
    """One order's saga state (or why it could not be read) and its step events."""

    def __init__(
        self, order_id: str, saga: SagaState | None, error: str | None, events: list[StepEvent] | None = None
    ) -> None:
        super().__init__()
        self.order_id = order_id
        self.saga = saga
        self.error = error
        self.events = events


# --- what the operator asked for in a widget ---------------------------------------------


class OrderSelected(Message):
    """The order under the table's cursor changed (None: the table is empty)."""

    def __init__(self, order_id: str | None) -> None:
        super().__init__()
        self.order_id = order_id


class OrderChosen(Message):
    """Enter, or a click on the selected row: show this order's detail."""

    def __init__(self, order_id: str) -> None:
        super().__init__()
        self.order_id = order_id


class FilterChanged(Message):
    def __init__(self, status: StatusFilter, text: str) -> None:
        super().__init__()
        self.status = status
        self.text = text


class SortChosen(Message):
    """A click on a column header."""

    def __init__(self, mode: SortMode) -> None:
        super().__init__()
        self.mode = mode


class FaultChanged(Message):
    """The operator set one endpoint's faults."""

    def __init__(self, service: ServiceName, settings: FaultSettings) -> None:
        super().__init__()
        self.service = service
        self.settings = settings


class FaultsRefused(Message):
    """The services refused an endpoint's new fault settings: the ones in force stay."""

    def __init__(self, service: ServiceName, error: CheckoutError) -> None:
        super().__init__()
        self.service = service
        self.error = error


class PresetChosen(Message):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class ResetRequested(Message):
    """Every fault back to none."""


class PauseToggled(Message):
    """The Faults tab's button of a step: pause it, or (`pause` False) resume it."""

    def __init__(self, step: Step, *, pause: bool) -> None:
        super().__init__()
        self.step = step
        self.pause = pause


class ActionDone(Message):
    """An operator action's worker finished: what to tell the operator, and what to read again."""

    def __init__(
        self,
        text: str,
        *,
        title: str = "",
        severity: Severity = "information",
        order_id: str | None = None,
        refresh: bool = False,
        select: str | None = None,
    ) -> None:
        super().__init__()
        self.select = select  # an order to show (e.g. the one just submitted)
        self.text = text
        self.title = title
        self.severity = severity
        self.order_id = order_id  # its detail is loaded again when it is the one shown
        self.refresh = refresh  # health, services and faults are read again


class CellMove(Message):
    """Arrow keys in a grid of fields: move the focus `rows` down and `columns` right from `cell`."""

    def __init__(self, cell: Widget, rows: int, columns: int) -> None:
        super().__init__()
        self.cell = cell
        self.rows = rows
        self.columns = columns


class StockRequested(Message):
    """The operator wants to set or add stock (the Services tab's button)."""


class AuditRequested(Message):
    """The operator wants the audit run (the Services tab's button)."""


class AuditDone(Message):
    def __init__(self, report: AuditReport | None, error: CheckoutError | None = None) -> None:
        super().__init__()
        self.report = report
        self.error = error


# --- scenarios (game days) -----------------------------------------------------------------


class ScenariosListed(Message):
    """The scenario files found, each loaded (a Scenario) or the one line why it does not load."""

    def __init__(self, files: list[ScenarioFile], scenarios: dict[Path, Scenario | str]) -> None:
        super().__init__()
        self.files = files
        self.scenarios = scenarios


class ScenarioRunAsked(Message):
    """The operator wants the scenario `name` run (Enter on it, the run button, the palette)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class ScenarioStopAsked(Message):
    """The operator wants the run stopped, as Ctrl-C does (the stop button)."""


class ScenarioEnded(Message):
    """A run ended: its report and the files written, or the one line why it could not run or ended badly."""

    def __init__(self, report: ScenarioReport | None, written: list[Path], error: str | None = None) -> None:
        super().__init__()
        self.report = report
        self.written = written
        self.error = error
