"""The selected order as a saga timeline: each forward step and each compensation."""

from __future__ import annotations

import io
from datetime import datetime

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from engine.models import FORWARD_STEPS, OrderStatus, SagaState, StepEvent, StepState, StepStatus
from tui.format import KIND_STYLE, clock_time, duration, event_line, money, one_line, status_text, step_status_text
from tui.state import Clock, utc_now
from tui.widgets.rich_view import RichView


def _took(step: StepState, now: datetime) -> str:
    if step.started_at is None:
        return ""
    end = step.finished_at or now
    return duration(max(0.0, (end - step.started_at).total_seconds()))


def _step_status(saga: SagaState, step: StepState) -> Text:
    if saga.status.is_terminal and step.status is StepStatus.PENDING:
        return Text("· not run", style="dim")
    if step.status is StepStatus.CUT_OFF or (
        saga.status is OrderStatus.TERMINATED and step.status in (StepStatus.RUNNING, StepStatus.RETRYING)
    ):
        return Text("■ cut off", style="bold red")
    return step_status_text(step.status)


def timeline(saga: SagaState) -> list[StepState]:
    """Forward steps in saga order (pending ones included), then compensations as they ran."""
    forward = [saga.step(name) or StepState(name=name) for name in FORWARD_STEPS]
    forward = [s if not s.compensation else StepState(name=s.name) for s in forward]
    compensations = [s for s in saga.steps if s.compensation]
    return forward + compensations


def render_saga(
    saga: SagaState, now: datetime, web_url: str | None, *, events: list[StepEvent] | None = None, links: str = ""
) -> Group:
    order = saga.order
    items = ", ".join(f"{item.quantity}× {item.sku}" for item in order.items)
    head = Text.assemble(
        ("order ", "dim"),
        (order.order_id, "bold"),
        ("  customer ", "dim"),
        order.customer_id,
        ("  total ", "dim"),
        (money(order.total_cents), "bold"),
    )
    paused = saga.paused_before is not None and saga.status is OrderStatus.RUNNING
    status = Text("⏸ PAUSED", style="bold yellow") if paused else Text.assemble(status_text(saga.status))
    if saga.reason:
        status.append(f"  {saga.reason.value}", style="bold")
    elif saga.note:
        status.append(f"  {saga.note}", style="yellow")
    if paused and saga.paused_before is not None:
        status.append(f" before {saga.paused_before.value}", style="bold yellow")
    elif saga.current_step and not saga.status.is_terminal:
        status.append("  at ", style="dim").append(saga.current_step.value)
    if saga.hold_until and saga.status is OrderStatus.RUNNING and saga.hold_until > now:
        left = (saga.hold_until - now).total_seconds()
        status.append(f"  cancellable for {duration(left)}", style="bold yellow")
    if saga.cancel_requested and not saga.status.is_terminal:
        status.append("  cancel requested", style="magenta")
    if saga.started_at:
        end = saga.finished_at if saga.status.is_terminal and saga.finished_at else now
        status.append("  took " if saga.status.is_terminal else "  age ", style="dim")
        status.append(duration((end - saga.started_at).total_seconds()))

    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False, header_style="bold dim")
    table.add_column("step", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("att", justify="right", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("finished", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("last error", ratio=1, overflow="fold")
    # A terminated order's steps stopped where they were: none of them runs on.
    now_or_end = saga.finished_at if saga.status is OrderStatus.TERMINATED and saga.finished_at else now
    for step in timeline(saga):
        name = Text(("↩ " if step.compensation else "  ") + step.name.value)
        if step.compensation:
            name.stylize("cyan")
        table.add_row(
            name,
            _step_status(saga, step),
            str(step.attempts) if step.attempts else "",
            _at(step.started_at),
            _at(step.finished_at),
            _took(step, now_or_end),
            Text(one_line(step.last_error), style="red") if step.last_error else "",
        )
    parts: list[RenderableType] = [head, Text(items, style="dim"), status]
    if links:
        parts.append(Text(links, style="magenta"))
    parts.append(table)
    if web_url:
        parts.append(Text.assemble(("Temporal UI ", "dim"), (web_url, "underline")))
    if events:
        parts.append(Text(f"\nstep events ({len(events)}, oldest first)", style="bold dim"))
        parts.extend(Text(event_line(event), style=KIND_STYLE.get(event.kind, "")) for event in events)
    return Group(*parts)


def _identity(event: StepEvent) -> tuple[object, ...]:
    return (event.step, event.kind, event.attempt, event.time)


def _merged(read: list[StepEvent], live: list[StepEvent]) -> list[StepEvent]:
    """The history read, and the live events it does not hold yet, oldest first."""
    seen = {_identity(e) for e in read}
    return sorted([*read, *(e for e in live if _identity(e) not in seen)], key=lambda e: e.time)


def _at(moment: datetime | None) -> Text:
    return Text(clock_time(moment), style="dim") if moment else Text("")


class OrderDetail(RichView, can_focus=True):
    """Shows one order's SagaState; the app loads it from `facade.state()` and pushes it here.

    It changes with every step event of the order it shows: a `RichView`, so that a change
    redraws the Detail without a layout of the whole screen."""

    DEFAULT_CSS = """
    OrderDetail { height: 1fr; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None, clock: Clock = utc_now) -> None:
        super().__init__(
            Text("No order selected: pick one in the table, or press n for a new order.", style="dim"), id=id
        )
        self.clock = clock
        self.order_id: str | None = None
        self.saga: SagaState | None = None
        self.error: str | None = None
        self.web_url: str | None = None
        self.events: list[StepEvent] = []  # the order's step events, oldest first
        self.history_read = False  # whether `events` holds the order's history, not only live ones
        self.links = ""  # e.g. "retry of a1b2; retried as a1b2-r1"

    def show(
        self,
        order_id: str | None,
        saga: SagaState | None = None,
        *,
        error: str | None = None,
        web_url: str | None = None,
        events: list[StepEvent] | None = None,
    ) -> None:
        """`events`: the order's step history as read (None keeps the ones shown, for the same order).
        The live events that came while it was read are kept: the read may be older than they are."""
        if order_id != self.order_id:
            self.scroll_home(animate=False)
            self.events = []
            self.history_read = False
        if events is not None:
            self.events = _merged(events, self.events)
            self.history_read = True
        self.order_id, self.saga, self.error, self.web_url = order_id, saga, error, web_url
        self.redraw()

    def add_events(self, events: list[StepEvent]) -> None:
        """Live events of the order shown, after the ones read with its state (none twice)."""
        seen = {_identity(e) for e in self.events}
        self.events.extend(e for e in events if _identity(e) not in seen)

    def redraw(self) -> None:
        """Show the current saga (also once a second while it runs: ages and the hold's countdown)."""
        if self.order_id is None:
            shown: Text | Group = Text("No order selected.", style="dim")
        elif self.saga is None:
            message = self.error or "loading…"
            style = "red" if self.error else "dim"
            shown = Text.assemble(("order ", "dim"), (self.order_id, "bold"), "\n", (message, style))
            if self.web_url:  # the history in Temporal says what happened, also when the state cannot
                shown.append_text(Text.assemble("\n", ("Temporal UI ", "dim"), (self.web_url, "underline")))
        else:
            shown = render_saga(self.saga, self.clock(), self.web_url, events=self.events, links=self.links)
            if self.error:
                shown.renderables.append(Text(f"not refreshed: {self.error}", style="red"))
        self.update(shown)

    @property
    def is_live(self) -> bool:
        return self.saga is not None and not self.saga.status.is_terminal

    def step_status(self, name: str, compensation: bool | None = None) -> StepStatus | None:
        """For tests and the palette: the status of one step in the shown saga."""
        if self.saga is None:
            return None
        for step in self.saga.steps:
            if step.name.value == name and (compensation is None or step.compensation == compensation):
                return step.status
        return None

    @property
    def plain(self) -> str:
        """The shown text without styles (tests and the palette use it)."""
        console = Console(width=max(40, self.size.width or 80), file=io.StringIO(), color_system=None)
        with console.capture() as capture:
            console.print(self.renderable)
        return capture.get()
