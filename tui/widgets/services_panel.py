"""Stock per SKU, the payment ledger, requests per endpoint (from `$SRV.STATS`), stock changes and the audit.

The tables stack when the tab is narrow and sit side by side when it is wide.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from engine.config import CatalogueItem
from engine.models import AuditReport, ServicesSnapshot
from tui.format import clock_time, money, one_line
from tui.messages import AuditRequested, StockRequested

SIDE_BY_SIDE_FROM = 76  # columns


def stock_and_ledger(snapshot: ServicesSnapshot, catalogue: dict[str, CatalogueItem]) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold dim")
    table.add_column("SKU", no_wrap=True, overflow="ellipsis")
    table.add_column("stock", justify="right", no_wrap=True)
    for sku in sorted(set(snapshot.stock) | set(catalogue)):
        count = snapshot.stock.get(sku)
        initial = catalogue[sku].stock if sku in catalogue else None
        style = (
            "bold red" if count == 0 else ("yellow" if initial and count is not None and count < initial / 5 else "")
        )
        table.add_row(sku, Text("—" if count is None else str(count), style=style))
    ledger = snapshot.ledger
    table.add_row("", "")
    table.add_row(Text("charged", style="dim"), money(ledger.charged_cents))
    table.add_row(Text("refunded", style="dim"), money(ledger.refunded_cents))
    table.add_row(Text("net", style="bold"), Text(money(ledger.net_cents), style="bold"))
    return table


def endpoints(snapshot: ServicesSnapshot) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold dim")
    table.add_column("endpoint", no_wrap=True)
    table.add_column("req", justify="right", no_wrap=True)
    table.add_column("err", justify="right", no_wrap=True)
    table.add_column("decl", justify="right", no_wrap=True)
    table.add_column("inst", justify="right", no_wrap=True)
    for stats in sorted(snapshot.endpoints, key=lambda e: (e.service, e.endpoint)):
        table.add_row(
            stats.endpoint,
            str(stats.requests),
            Text(str(stats.errors), style="red" if stats.errors else ""),
            Text(str(stats.declines), style="yellow" if stats.declines else ""),
            str(stats.instances),
        )
    if not snapshot.endpoints:
        table.add_row(Text("no service answers", style="dim"), "", "", "", "")
    return table


def audit_verdict(report: AuditReport | None, error: str | None = None) -> Text:
    if error:
        return Text(f"audit: {one_line(error, 120)}", style="red")
    if report is None:
        return Text("audit: not run yet (a runs it)", style="dim")
    when = clock_time(report.at)
    if report.clean:
        return Text(f"audit {when}: clean, {report.orders} orders, {report.records} records", style="green")
    first = one_line(report.discrepancies[0].message, 100)
    verdict = Text(f"audit {when}: {len(report.discrepancies)} discrepancies", style="bold red")
    return verdict.append(f"; {first}", style="red")


class ServicesPanel(VerticalScroll):
    DEFAULT_CSS = """
    ServicesPanel { height: 1fr; padding: 0 1; }
    ServicesPanel > #tables { height: auto; layout: vertical; }
    ServicesPanel > #tables.-side { layout: horizontal; }
    ServicesPanel > #tables > Static { width: auto; height: auto; margin: 0 2 1 0; }
    ServicesPanel > #service-actions { height: 1; }
    ServicesPanel > #service-actions > Button { margin-right: 1; }
    ServicesPanel > #audit-verdict { height: auto; margin-top: 1; }
    """

    def __init__(
        self, catalogue: dict[str, CatalogueItem] | None = None, *, read_only: bool = False, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.catalogue = catalogue or {}
        self.read_only = read_only  # no stock button: stock is shown, not changed
        self.snapshot: ServicesSnapshot | None = None
        self.audit: AuditReport | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="tables"):
            self._stock = Static(Text("waiting for the services…", style="dim"), id="stock")
            self._endpoints = Static(id="endpoints")
            yield self._stock
            yield self._endpoints
        with Horizontal(id="service-actions"):
            if not self.read_only:
                yield Button("stock…", id="change-stock", compact=True, tooltip="Set or add stock for a SKU (k)")
            yield Button("audit", id="run-audit", compact=True, tooltip="Check that no money or stock was lost (a)")
        self._verdict = Static(audit_verdict(None), id="audit-verdict")
        yield self._verdict

    def on_resize(self) -> None:
        self.query_one("#tables").set_class(self.size.width >= SIDE_BY_SIDE_FROM, "-side")

    def show(self, snapshot: ServicesSnapshot) -> None:
        if snapshot == self.snapshot:
            return
        # The same number of rows keeps the same height: redraw without re-laying out the screen.
        same_shape = self.snapshot is not None and (
            set(self.snapshot.stock) == set(snapshot.stock) and len(self.snapshot.endpoints) == len(snapshot.endpoints)
        )
        self.snapshot = snapshot
        self._stock.update(stock_and_ledger(snapshot, self.catalogue), layout=not same_shape)
        self._endpoints.update(endpoints(snapshot), layout=not same_shape)

    def show_audit(self, report: AuditReport | None, error: str | None = None) -> None:
        self.audit = report
        self._verdict.update(audit_verdict(report, error))

    @on(Button.Pressed, "#change-stock")
    def _change_stock(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(StockRequested())

    @on(Button.Pressed, "#run-audit")
    def _run_audit(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(AuditRequested())
