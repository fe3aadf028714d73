"""Stock per SKU, the payment ledger and request counts per endpoint (from `$SRV.STATS`)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from engine.config import CatalogueItem
from engine.models import ServicesSnapshot
from tui.format import money


def stock_and_ledger(snapshot: ServicesSnapshot, catalogue: dict[str, CatalogueItem]) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold dim", expand=True)
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
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold dim", expand=True)
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


class ServicesPanel(Horizontal):
    DEFAULT_CSS = """
    ServicesPanel { height: 1fr; padding: 0 1; }
    ServicesPanel > #stock { width: 1fr; max-width: 40; margin-right: 2; }
    ServicesPanel > #endpoints { width: 1fr; max-width: 48; }
    """

    def __init__(self, catalogue: dict[str, CatalogueItem] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.catalogue = catalogue or {}
        self.snapshot: ServicesSnapshot | None = None

    def compose(self) -> ComposeResult:
        self._stock = Static(Text("waiting for the services…", style="dim"), id="stock")
        self._endpoints = Static(id="endpoints")
        yield self._stock
        yield self._endpoints

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
