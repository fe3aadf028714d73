"""The top line: which servers, worker and services answer, faults injected, problems, and the Web UI address.

Whatever the width, the Web UI address stays at the right end: the parts before it say
the same thing in fewer columns first (short names, then symbols), and only then are cut.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from engine.models import SERVICE_ENDPOINTS, Health

SERVICES = tuple(SERVICE_ENDPOINTS)
LEVELS = 4  # ways to say it, each shorter than the one before
SHORT = {"Temporal": "T", "NATS": "N", "worker": "W", "inventory": "inv", "payment": "pay", "shipping": "ship"}


def _name(name: str, level: int) -> str:
    if level == 0:
        return name
    if name in ("Temporal", "NATS", "worker"):
        return name if level < 3 else SHORT[name]
    return name[:4] if level == 1 else SHORT.get(name, name[:3])


class StatusLine(Static):
    """Shows `phase` ("starting servers…", "stopping…", an error) or, once running, the health."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        width: 1fr;
        background: $panel;
        color: $text;
        padding: 0 1;
        overflow: hidden;
    }
    """

    phase: reactive[str] = reactive("starting servers…")
    health: reactive[Health | None] = reactive(None)
    problem: reactive[str] = reactive("")
    faults: reactive[str] = reactive("")  # endpoints with faults injected, e.g. "payment, shipping"
    web_ui: reactive[str] = reactive("")  # the Temporal Web UI address
    read_only: reactive[bool] = reactive(False)  # says `read-only` first, at every width

    def render(self) -> Text:
        width = self.content_size.width or 10_000
        url = Text(f" {self.web_ui}", style="dim") if self.web_ui else Text()
        room = width - url.cell_len
        for level in range(LEVELS):
            left = self._left(level)
            if left.cell_len <= room:
                break
        if left.cell_len > room:
            left.truncate(max(0, room), overflow="ellipsis")
        else:
            left.append(" " * (room - left.cell_len))
        return Text.assemble(left, url, no_wrap=True)

    def _left(self, level: int) -> Text:
        line = Text(no_wrap=True)
        if self.read_only:
            line.append("read-only", style="bold reverse")
            line.append(" ")
        if self.phase:
            line.append(self.phase + "  ", style="bold yellow")
        health = self.health
        if health is not None:
            self._part(line, "Temporal", health.temporal, level)
            self._part(line, "NATS", health.nats, level)
            self._part(line, "worker", health.worker, level)
            for name in sorted(set(SERVICES) | set(health.services)):
                self._part(line, name, health.services.get(name, False), level)
        if self.faults:
            shown = self.faults if level < 3 else f"{self.faults.count(',') + 1}"
            line.append(("⚡faults: " if level == 0 else "⚡") + shown, style="bold yellow")
        if self.problem:
            line.append(f"  {self.problem}", style="bold red")
        return line

    @staticmethod
    def _part(line: Text, name: str, up: bool, level: int) -> None:
        shown = _name(name, level)
        gap = " " if level < 2 else ""
        line.append("●" + gap if up else "○" + gap, style="green" if up else "bold red")
        line.append(shown if up or level == 3 else f"{shown} down", style="" if up else "bold red")
        line.append(" ")

    @property
    def plain(self) -> str:
        """Everything the line says, unabbreviated and uncut (tests)."""
        return Text.assemble(self._left(0), f" {self.web_ui}" if self.web_ui else "").plain
