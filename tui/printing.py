"""How the `checkout` command prints orders, saga states and faults (rich, or JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.config import CatalogueItem
from engine.models import (
    AuditReport,
    FaultSettings,
    OrderStatus,
    OrderSummary,
    SagaState,
    ServiceName,
    Step,
    StepPause,
    StepStatus,
)
from tui.format import money


class _PipeConsole(Console):
    """Leaves a closed pipe (`checkout orders | head -1`) to the command's caller, as print() does:
    rich's own handling exits 1 from wherever the write happened."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


console = _PipeConsole(highlight=False)
errors = Console(stderr=True, highlight=False)

STATUS_STYLE = {
    OrderStatus.RUNNING: "cyan",
    OrderStatus.COMPENSATING: "yellow",
    OrderStatus.COMPLETED: "green",
    OrderStatus.COMPENSATED: "magenta",
    OrderStatus.FAILED: "red",
    OrderStatus.TERMINATED: "red",
}
STEP_STYLE = {
    StepStatus.SUCCEEDED: "green",
    StepStatus.FAILED: "red",
    StepStatus.RETRYING: "yellow",
    StepStatus.RUNNING: "cyan",
    StepStatus.CANCELLED: "magenta",
    StepStatus.CUT_OFF: "red",
    StepStatus.PAUSED: "yellow",
}


def when(moment: datetime | None) -> str:
    """Local date and time: listings span days."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def print_json(value: BaseModel | Iterable[BaseModel] | Mapping[Any, Any]) -> None:
    data: Any
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json")
    elif isinstance(value, Mapping):
        data = {str(k): v.model_dump(mode="json") if isinstance(v, BaseModel) else v for k, v in value.items()}
    else:
        data = [item.model_dump(mode="json") for item in value]
    print(json.dumps(data, indent=2))


def print_error(message: str) -> None:
    errors.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)


def print_note(message: str) -> None:
    """A line beside the output, on stderr: pipes read the listing alone."""
    errors.print(f"[dim]{escape(message)}[/]", soft_wrap=True)


def print_orders(orders: list[OrderSummary]) -> None:
    table = Table("order", "customer", "total", "status", "reason", "started", box=None, header_style="bold")
    for order in orders:
        style = STATUS_STYLE.get(order.status, "default")
        table.add_row(
            order.order_id,
            order.customer_id or "-",
            money(order.total_cents),
            f"[{style}]{order.status.value}[/]",
            order.reason.value if order.reason else escape(order.note or ""),
            when(order.started_at),
        )
    console.print(table)
    console.print(f"{len(orders)} order(s)")


def print_state(state: SagaState) -> None:
    order = state.order
    style = STATUS_STYLE.get(state.status, "default")
    reason = f" ({state.reason.value})" if state.reason else f" ({escape(state.note)})" if state.note else ""
    console.print(f"[bold]order {order.order_id}[/]  customer {order.customer_id}  total {money(order.total_cents)}")
    if state.paused_before is not None and state.status is OrderStatus.RUNNING:
        style = "yellow"
    console.print(f"status [{style}]{state.shown_status}[/]{reason}")
    items = ", ".join(f"{item.quantity} x {item.sku} @ {money(item.unit_price_cents)}" for item in order.items)
    console.print(f"items  {items}")
    table = Table("step", "status", "attempts", "started", "finished", "last error", box=None, header_style="bold")
    for step in state.steps:
        name = f"  ↩ {step.name.value}" if step.compensation else step.name.value
        table.add_row(
            name,
            f"[{STEP_STYLE.get(step.status, 'default')}]{step.status.value}[/]",
            str(step.attempts),
            when(step.started_at),
            when(step.finished_at),
            step.last_error or "",
        )
    console.print(table)


def print_pauses(pauses: Mapping[Step, StepPause]) -> None:
    if not pauses:
        console.print("no step is paused")
        return
    table = Table("step", "paused since", "reason", box=None, header_style="bold")
    for step, pause in pauses.items():
        table.add_row(f"[yellow]{step.value}[/]", when(pause.since), escape(pause.reason))
    console.print(table)


def print_stock(stock: dict[str, int], catalogue: dict[str, CatalogueItem]) -> None:
    table = Table("sku", "units", "initial", box=None, header_style="bold")
    for sku in sorted(set(stock) | set(catalogue)):
        units = stock.get(sku)
        initial = catalogue[sku].stock if sku in catalogue else None
        shown = "-" if units is None else f"[red]{units}[/]" if units == 0 else str(units)
        table.add_row(sku, shown, "-" if initial is None else str(initial))
    console.print(table)


def print_audit(report: AuditReport) -> None:
    """One line per discrepancy, then the notes; a clean audit says what it checked."""
    checked = f"{report.orders} orders ({report.ended} ended, {report.in_flight} in flight), {report.records} records"
    if report.clean:
        console.print(f"[green]audit clean[/]: {checked}")
    else:
        for discrepancy in report.discrepancies:
            console.print(escape(discrepancy.message), soft_wrap=True)
        console.print(f"[red]{len(report.discrepancies)} discrepancies[/] in {checked}")
    for note in report.notes:
        console.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)


def print_faults(faults: dict[ServiceName, FaultSettings]) -> None:
    table = Table(
        "service",
        "error_rate",
        "decline_rate",
        "latency_ms",
        "jitter_ms",
        "down",
        "lost_reply_rate",
        box=None,
        header_style="bold",
        pad_edge=False,
        collapse_padding=True,  # every key in full within 80 columns
    )
    for service in ServiceName:
        fault = faults.get(service, FaultSettings())
        table.add_row(
            service.value,
            f"{fault.error_rate:g}",
            f"{fault.decline_rate:g}",
            str(fault.latency_ms),
            str(fault.jitter_ms),
            "[red]yes[/]" if fault.down else "no",
            f"{fault.lost_reply_rate:g}",
        )
    console.print(table)
