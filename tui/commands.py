"""The command palette (ctrl+p): every dashboard action, presets, filters, and jumping to an order."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.app import CheckoutApp

MAX_ORDER_HITS = 20


class PaletteCommand(NamedTuple):
    title: str
    help: str
    callback: Callable[[], object]


class DashboardCommands(Provider):
    @property
    def dashboard(self) -> CheckoutApp:
        return self.app  # type: ignore[return-value]

    def _commands(self) -> list[PaletteCommand]:
        commands = getattr(self.app, "palette_commands", None)
        return list(commands()) if commands else []

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.title, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.callback, help=command.help)
        needle = query.strip().lower()
        book = getattr(self.app, "book", None)
        if len(needle) >= 2 and book is not None:
            found = 0
            for order_id, row in list(book.orders.items()):
                if needle in order_id.lower() or needle in (row.customer_id or "").lower():
                    title = f"order {order_id}"
                    yield Hit(
                        0.5,
                        matcher.highlight(title),
                        partial(self.dashboard.show_order, order_id),
                        text=title,
                        help=f"{row.status.value} · {row.customer_id or '?'}",
                    )
                    found += 1
                    if found >= MAX_ORDER_HITS:
                        break
