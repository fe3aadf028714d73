"""The top line: which servers, worker and services answer, and the Temporal Web UI address."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from engine.models import Health

SERVICES = ("inventory", "payment", "shipping")


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

    def render(self) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        if self.phase:
            line.append(self.phase, style="bold yellow")
        health = self.health
        compact = bool(self.size.width) and self.size.width < 110
        if health is not None:
            if self.phase:
                line.append("  ")
            self._part(line, "Temporal", health.temporal)
            self._part(line, "NATS", health.nats)
            self._part(line, "worker", health.worker)
            for name in sorted(set(SERVICES) | set(health.services)):
                self._part(line, name[:4] if compact else name, health.services.get(name, False))
        if self.faults:
            line.append(f"⚡faults: {self.faults}", style="bold yellow")
        if self.problem:
            line.append(f"  {self.problem}", style="bold red")
        if health is not None and health.web_ui_url:  # last: the first thing to go on a narrow screen
            line.append(f" {health.web_ui_url}" if compact else f" UI {health.web_ui_url}", style="dim")
        return line

    @staticmethod
    def _part(line: Text, name: str, up: bool) -> None:
        line.append("● " if up else "○ ", style="green" if up else "bold red")
        line.append(name if up else f"{name} down", style="" if up else "bold red")
        line.append(" ")

    @property
    def plain(self) -> str:
        return self.render().plain
