"""How the dashboard shows money, durations, statuses and step events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text

from engine.models import EventKind, OrderStatus, StepEvent, StepStatus

STATUS_LOOK: dict[OrderStatus, tuple[str, str]] = {
    OrderStatus.RUNNING: ("●", "yellow"),
    OrderStatus.COMPENSATING: ("↺", "magenta"),
    OrderStatus.COMPLETED: ("✔", "green"),
    OrderStatus.COMPENSATED: ("↩", "cyan"),
    OrderStatus.FAILED: ("✘", "red"),
    OrderStatus.TERMINATED: ("■", "bold red"),
}

STEP_LOOK: dict[StepStatus, tuple[str, str]] = {
    StepStatus.PENDING: ("·", "dim"),
    StepStatus.RUNNING: ("●", "yellow"),
    StepStatus.RETRYING: ("↻", "bold magenta"),
    StepStatus.SUCCEEDED: ("✔", "green"),
    StepStatus.FAILED: ("✘", "red"),
    StepStatus.CANCELLED: ("⊘", "cyan"),
    StepStatus.SKIPPED: ("-", "dim"),
    StepStatus.CUT_OFF: ("■", "bold red"),
    StepStatus.PAUSED: ("⏸", "bold yellow"),
}

KIND_STYLE: dict[EventKind, str] = {
    EventKind.STARTED: "yellow",
    EventKind.SUCCEEDED: "green",
    EventKind.FAILED: "red",
    EventKind.COMPENSATING: "magenta",
    EventKind.COMPENSATED: "cyan",
    EventKind.PAUSED: "bold yellow",
    EventKind.RELEASED: "yellow",
}


def money(cents: int | None) -> str:
    """Integer cents as `$1,234.56` (`-$0.50` below zero), in integer arithmetic: no float rounding."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}m{rest:02d}s"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


def status_text(status: OrderStatus) -> Text:
    symbol, style = STATUS_LOOK.get(status, ("?", ""))
    return Text(f"{symbol} {status.value}", style=style)


def step_status_text(status: StepStatus) -> Text:
    symbol, style = STEP_LOOK.get(status, ("?", ""))
    return Text(f"{symbol} {status.value}", style=style)


def clock_time(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%H:%M:%S") if moment else "--:--:--"


def event_line(event: StepEvent) -> str:
    """One line of the event log, plain text."""
    attempt = f" #{event.attempt}" if event.attempt > 1 else ""
    error = f"  {event.error}" if event.error else ""
    return f"{clock_time(event.time)} {event.order_id:<12} {event.step:<8} {event.kind.value}{attempt}{error}"


def terminated_line(order_id: str, moment: datetime | None) -> str:
    """The event log's line for a terminated order (a terminate publishes no step event)."""
    return f"{clock_time(moment)} {order_id:<12} order    terminated: no compensation ran"


def one_line(text: str, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_STYLES: dict[str, Style | None] = {}


def cached_style(name: str) -> Style | None:
    """Parsing a style string costs more than drawing its text: parse each name once."""
    if name not in _STYLES:
        _STYLES[name] = Style.parse(name) if name else None
    return _STYLES[name]


def fit(text: str, width: int, *, right: bool = False) -> str:
    """`text` in exactly `width` cells: cropped with an ellipsis, or padded."""
    if cell_len(text) > width:
        text = set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


def fit_id(text: str, width: int) -> str:
    """An id in exactly `width` cells, cropped in the middle: ids that share a beginning (a bulk's
    `a8a3a8-0012`, a retry's `…-r1`) differ at the end, which is kept (`a8…-0012`)."""
    if cell_len(text) <= width or width < 4:
        return fit(text, width)
    head = (width - 1) // 3
    tail = width - 1 - head
    return text[:head] + "…" + text[-tail:]


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell of the orders table: plain text, a style name, and its alignment; an id is cropped
    in the middle rather than at its end."""

    plain: str
    style: str = ""
    right: bool = False
    is_id: bool = False


PAUSED_CELL = Cell("⏸ PAUSED", "bold yellow")  # the step cell beside it says before which step


def status_cell(status: OrderStatus) -> Cell:
    symbol, style = STATUS_LOOK.get(status, ("?", ""))
    return Cell(f"{symbol} {status.value}", style)
